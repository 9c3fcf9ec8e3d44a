package rawmqtt

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vendgate/internal/proccpu"
)

// cpuMeter samples the process's CPU time (user + system) and its read/write
// syscall counts, so a benchmark can report them per operation. The figures are
// process-wide: they include the in-process peer, which is the same before and
// after a change to the client.
type cpuMeter struct {
	cpu        time.Duration
	syscr, scw int64
}

func sampleCPU() cpuMeter {
	r, w, _ := proccpu.Syscalls()
	return cpuMeter{cpu: proccpu.Used(), syscr: r, scw: w}
}

// report adds cpu-µs/op and syscalls/op metrics for ops operations since m0.
func (m0 cpuMeter) report(b *testing.B, ops int, unit string) {
	m1 := sampleCPU()
	if ops <= 0 {
		return
	}
	b.ReportMetric(float64(m1.cpu-m0.cpu)/float64(time.Microsecond)/float64(ops), "cpu-µs/"+unit)
	if m1.syscr > 0 {
		b.ReportMetric(float64(m1.syscr-m0.syscr+m1.scw-m0.scw)/float64(ops), "rwsyscalls/"+unit)
	}
}

// ackPeer is a minimal broker over TCP: CONNACK, SUBACK, PINGRESP and a PUBACK for
// every QoS 1 PUBLISH; all replies to one read go out in one write, so the peer's
// share of the CPU stays small and constant.
func ackPeer(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { servePeer(nc) })
		}
	})
	return ln.Addr().String()
}

func servePeer(nc net.Conn) {
	defer nc.Close()
	buf := make([]byte, 64<<10)
	var out []byte
	have := 0
	for {
		n, err := nc.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		out = out[:0]
		off := 0
		for {
			first, remLen, hs, err := Header(buf[off:have])
			if err != nil || off+hs+remLen > have {
				break
			}
			body := buf[off+hs : off+hs+remLen]
			switch first >> 4 {
			case CONNECT:
				out = AppendConnack(out, false, 0)
			case SUBSCRIBE:
				out = AppendSuback(out, uint16(body[0])<<8|uint16(body[1]), 1)
			case PINGREQ:
				out = AppendPingresp(out)
			case PUBLISH:
				if first>>1&3 == 1 {
					tl := int(body[0])<<8 | int(body[1])
					out = AppendPuback(out, uint16(body[2+tl])<<8|uint16(body[3+tl]))
				}
			case DISCONNECT:
				return
			}
			off += hs + remLen
		}
		have = copy(buf, buf[off:have])
		if len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
	}
}

// BenchmarkFloodQoS1 is the fleet's throughput pattern: conns connections each
// keep window QoS 1 publishes in flight, publishing the next one as a PUBACK
// arrives (the reader goroutine does both). One op is one acknowledged publish.
func BenchmarkFloodQoS1(b *testing.B) {
	for _, tc := range []struct{ conns, window int }{{1, 1}, {8, 8}} {
		b.Run("conns="+strconv.Itoa(tc.conns)+"/window="+strconv.Itoa(tc.window), func(b *testing.B) {
			addr := ackPeer(b)
			payload := []byte(`{"v":1,"id":"f-abc-123","ts":1760000000000,"code":"LOADTEST","time":1760000000000}`)
			conns := make([]*Conn, tc.conns)
			for i := range conns {
				c, err := Dial(context.Background(), Config{Addr: addr, ReadBuffer: 512,
					Connect: ConnectOptions{ClientID: "c" + strconv.Itoa(i), CleanSession: true}})
				if err != nil {
					b.Fatal(err)
				}
				conns[i] = c
			}
			var budget atomic.Int64
			budget.Store(int64(b.N))
			take := func() bool { return budget.Add(-1) >= 0 }
			b.ReportAllocs()
			b.ResetTimer()
			m0 := sampleCPU()
			var wg sync.WaitGroup
			for i, c := range conns {
				topic := "vm/v1/35000000000000" + strconv.Itoa(i) + "/evt"
				wg.Go(func() {
					out := 0
					for range tc.window {
						if !take() {
							break
						}
						if _, err := c.Publish(topic, payload, 1, false, 1); err != nil {
							b.Error(err)
							return
						}
						out++
					}
					for out > 0 {
						p, m, err := c.ReadPacket()
						if err != nil {
							b.Error(err)
							return
						}
						if p.Type != PUBACK || m == nil {
							continue
						}
						out--
						if take() {
							if _, err := c.Publish(topic, payload, 1, false, 1); err != nil {
								b.Error(err)
								return
							}
							out++
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			m0.report(b, b.N, "msg")
			for _, c := range conns {
				_ = c.Disconnect()
			}
		})
	}
}

// BenchmarkReadPublishQoS1 is the command pattern seen from the client: the peer
// sends QoS 1 PUBLISHes, the client reads each (ReadPacket acknowledges it).
func BenchmarkReadPublishQoS1(b *testing.B) {
	cl, sv := net.Pipe()
	defer cl.Close()
	defer sv.Close()
	c := NewConn(cl, Config{ReadBuffer: 512})
	pkt := AppendPublish(nil, "vm/v1/350000000000001/cmd/req/01JCMD", []byte(`{"v":1,"id":"01JCMD","ts":1,"name":"reset","exp":2}`), 1, false, false, 7)
	go func() {
		r := bufio.NewReader(sv)
		w := bufio.NewWriter(sv)
		go func() {
			for {
				if _, err := r.Discard(4); err != nil {
					return
				}
			}
		}()
		for range b.N {
			if _, err := w.Write(pkt); err != nil {
				return
			}
		}
		_ = w.Flush()
	}()
	b.ReportAllocs()
	b.ResetTimer()
	m0 := sampleCPU()
	for range b.N {
		if _, _, err := c.ReadPacket(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	m0.report(b, b.N, "msg")
}
