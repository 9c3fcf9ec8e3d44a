package fleet

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vendgate/emulator/rawmqtt"
	"vendgate/internal/proccpu"
)

// cpuSample is the process's CPU time (user + system) and read/write syscalls.
type cpuSample struct {
	cpu       time.Duration
	syscalls  int64
	haveCalls bool
}

func sampleCPU() cpuSample {
	r, w, ok := proccpu.Syscalls()
	return cpuSample{cpu: proccpu.Used(), syscalls: r + w, haveCalls: ok}
}

func (s0 cpuSample) report(b *testing.B, ops uint64, unit string) {
	s1 := sampleCPU()
	if ops == 0 {
		b.Fatalf("no %s completed", unit)
	}
	b.ReportMetric(float64(s1.cpu-s0.cpu)/float64(time.Microsecond)/float64(ops), "cpu-µs/"+unit)
	if s1.haveCalls {
		b.ReportMetric(float64(s1.syscalls-s0.syscalls)/float64(ops), "rwsyscalls/"+unit)
	}
	b.ReportMetric(float64(ops)/float64(b.N), unit+"s/op")
}

// benchBroker is a minimal in-process MQTT peer: it acknowledges everything and,
// with commands set, keeps one command request outstanding per connection,
// sending the next when the modem's "succeeded" result arrives. Replies to one
// read go out in one write so that the peer's share of the CPU stays small.
type benchBroker struct {
	commands bool
	done     atomic.Uint64 // commands answered "succeeded"
}

func (bb *benchBroker) start(tb testing.TB) string {
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
			wg.Go(func() { bb.serve(nc) })
		}
	})
	return ln.Addr().String()
}

func (bb *benchBroker) serve(nc net.Conn) {
	defer nc.Close()
	buf := make([]byte, 64<<10)
	var out []byte
	var imei string
	have, next, pid := 0, 0, uint16(0)
	exp := time.Now().Add(time.Hour).UnixMilli()
	sendCmd := func() {
		next++
		pid = pid%65535 + 1
		id := "c" + strconv.Itoa(next)
		payload := `{"v":1,"id":"` + id + `","ts":` + strconv.FormatInt(time.Now().UnixMilli(), 10) +
			`,"name":"cashless_mode","args":{"enabled":true},"exp":` + strconv.FormatInt(exp, 10) + `}`
		out = rawmqtt.AppendPublish(out, "vm/v1/"+imei+"/cmd/req/"+id, []byte(payload), 1, false, false, pid)
	}
	for {
		n, err := nc.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		out = out[:0]
		off := 0
		for {
			first, remLen, hs, err := rawmqtt.Header(buf[off:have])
			if err != nil || off+hs+remLen > have {
				break
			}
			body := buf[off+hs : off+hs+remLen]
			switch first >> 4 {
			case rawmqtt.CONNECT:
				// client id: after the 10-byte variable header
				l := int(binary.BigEndian.Uint16(body[10:]))
				imei = string(body[12 : 12+l])
				out = rawmqtt.AppendConnack(out, false, 0)
			case rawmqtt.SUBSCRIBE:
				out = rawmqtt.AppendSuback(out, binary.BigEndian.Uint16(body), 1)
				if bb.commands {
					sendCmd()
				}
			case rawmqtt.PINGREQ:
				out = rawmqtt.AppendPingresp(out)
			case rawmqtt.PUBLISH:
				tl := int(binary.BigEndian.Uint16(body))
				if first>>1&3 == 1 {
					out = rawmqtt.AppendPuback(out, binary.BigEndian.Uint16(body[2+tl:]))
				}
				if bb.commands && bytes.Contains(body[2:2+tl], []byte("/cmd/res/")) &&
					bytes.Contains(body[2+tl:], []byte(`"status":"succeeded"`)) {
					bb.done.Add(1)
					sendCmd()
				}
			case rawmqtt.DISCONNECT:
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

func benchFleet(b *testing.B, bb *benchBroker, cfg Config) Summary {
	b.Helper()
	cfg.Broker = "tcp://" + bb.start(b)
	cfg.Client, cfg.Secret, cfg.HBInterval, cfg.Keepalive = ClientRaw, "bench", time.Hour, time.Minute
	cfg.Drain = 200 * time.Millisecond
	s, err := Run(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if len(s.Errors) > 0 {
		b.Fatalf("errors: %v", s.Errors)
	}
	return s
}

// BenchmarkRawFleetFlood is the load test's throughput phase in miniature: 50
// modems each keep 8 QoS 1 events in flight for 1 s per op. The figure is CPU
// per acknowledged uplink (fleet + the small in-process peer).
func BenchmarkRawFleetFlood(b *testing.B) {
	var acked uint64
	s0 := sampleCPU()
	for range b.N {
		s := benchFleet(b, &benchBroker{}, Config{N: 50, Flood: 8, Duration: time.Second})
		acked += s.Acked
	}
	s0.report(b, acked, "uplink")
}

// BenchmarkRawFleetCommands is the command phase in miniature: 200 modems, each
// with one command request outstanding at a time, answered "accepted" then
// "succeeded" (both QoS 1, acknowledged), for 1 s per op. The figure is CPU per
// command (fleet + the in-process peer, which also builds the requests).
func BenchmarkRawFleetCommands(b *testing.B) {
	var cmds uint64
	s0 := sampleCPU()
	for range b.N {
		bb := &benchBroker{commands: true}
		s := benchFleet(b, bb, Config{N: 200, Duration: time.Second})
		cmds += bb.done.Load()
		if s.CmdReceived == 0 {
			b.Fatal("no commands")
		}
	}
	s0.report(b, cmds, "cmd")
}
