package broker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"vendgate/internal/proccpu"
	"vendgate/protocol"
)

// acceptAll accepts any IMEI with password "p".
type acceptAll struct{}

func (acceptAll) Authenticate(_ context.Context, imei, password string) (int64, error) {
	if password != "p" {
		return 0, ErrBadCredentials
	}
	return 1, nil
}

// nopHandler stores nothing and acknowledges everything.
type nopHandler struct{}

func (nopHandler) Connected(Conn)                                 {}
func (nopHandler) Disconnected(Conn, bool, error)                 {}
func (nopHandler) Subscribed(Conn)                                {}
func (nopHandler) Publish(Conn, string, []byte, byte, bool) error { return nil }
func (nopHandler) Delivered(Conn, string)                         {}

func benchIMEI(i int) string { return fmt.Sprintf("35693803%07d", i) }

func encode(tb testing.TB, pk packets.Packet) []byte {
	tb.Helper()
	pk.ProtocolVersion = 4
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	}
	require.NoError(tb, err)
	return buf.Bytes()
}

// dialModem connects and logs in with a bare socket (no client-side buffers,
// so memory figures are mostly the broker's).
func dialModem(tb testing.TB, addr, imei string, subscribe bool) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(tb, err)
	_, err = c.Write(encode(tb, connectPacket(imei, imei, "p", 600)))
	require.NoError(tb, err)
	var ack [4]byte
	_, err = io.ReadFull(c, ack[:])
	require.NoError(tb, err)
	require.Equal(tb, byte(0), ack[3], "connack")
	if subscribe {
		_, err = c.Write(encode(tb, packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
			PacketID:    1,
			Filters:     packets.Subscriptions{{Filter: protocol.CommandRequestFilter(imei), Qos: 1}},
		}))
		require.NoError(tb, err)
		var sa [5]byte
		_, err = io.ReadFull(c, sa[:])
		require.NoError(tb, err)
		require.Equal(tb, byte(1), sa[4], "suback")
	}
	return c
}

// BenchmarkUplink measures QoS 1 uplinks through the broker into a Handler
// that returns at once: clients × window messages in flight, PUBACKs read
// by each client. Reports msgs/s over all clients.
func BenchmarkUplink(b *testing.B) {
	for _, bc := range []struct{ clients, window int }{{1, 1}, {8, 1}, {8, 16}, {64, 4}} {
		b.Run(fmt.Sprintf("clients=%d/window=%d", bc.clients, bc.window), func(b *testing.B) {
			br, err := New(Config{Listen: "127.0.0.1:0", Logger: quietLogger()}, acceptAll{}, nopHandler{})
			require.NoError(b, err)
			require.NoError(b, br.Start())
			defer br.Close()
			conns := make([]net.Conn, bc.clients)
			for i := range conns {
				conns[i] = dialModem(b, br.Addr().String(), benchIMEI(i), false)
				defer conns[i].Close()
			}
			payload := bytes.Repeat([]byte("x"), 200)
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, c := range conns {
				n := b.N / bc.clients
				if i < b.N%bc.clients {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					runPublisher(b, c, benchIMEI(i), payload, n, bc.window)
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

func runPublisher(b *testing.B, c net.Conn, imei string, payload []byte, n, window int) {
	msg := encode(b, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		TopicName:   protocol.TopicFor(imei, protocol.ClassHeartbeat),
		Payload:     payload,
		PacketID:    1,
	})
	idAt := len(msg) - len(payload) - 2
	tokens := make(chan struct{}, window)
	done := make(chan error, 1)
	go func() { // PUBACK reader
		r := bufio.NewReader(c)
		var ack [4]byte
		for range n {
			if _, err := io.ReadFull(r, ack[:]); err != nil {
				done <- err
				return
			}
			<-tokens
		}
		done <- nil
	}()
	w := bufio.NewWriter(c)
	for i := range n {
		select {
		case tokens <- struct{}{}:
		default:
			_ = w.Flush()
			tokens <- struct{}{}
		}
		id := uint16(i%60000 + 1)
		msg[idAt], msg[idAt+1] = byte(id>>8), byte(id)
		_, _ = w.Write(msg)
	}
	_ = w.Flush()
	if err := <-done; err != nil {
		b.Error(err)
	}
}

// deepAuth accepts any IMEI with password "p" after using about depth KB
// of stack, as a store lookup does (modernc SQLite: ~15–30 KB).
type deepAuth struct{ depth int }

func (a deepAuth) Authenticate(_ context.Context, imei, password string) (int64, error) {
	if password != "p" {
		return 0, ErrBadCredentials
	}
	if useStack(a.depth) == 0xff {
		return 2, nil
	}
	return 1, nil
}

// useStack recurses n levels with a 1 KB frame each.
//
//go:noinline
func useStack(n int) byte {
	var frame [1024]byte
	frame[n%len(frame)] = byte(n)
	if n <= 0 {
		return frame[0]
	}
	return useStack(n-1) ^ frame[(n*7)%len(frame)]
}

// vmRSS returns the process's resident set size in bytes (Linux), 0 if
// unknown.
func vmRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkIdleConnMemory holds 2,000 logged-in modem connections, each
// subscribed to its command topic as real modems are, with the gateway's
// broker configuration (Config defaults; gateway.go sets only Listen,
// timeouts, MaxClients and WritesPending, all at their defaults), and
// reports per connection:
//
//   - peakStackKB, peakRSSKB: right after the last CONNACK/SUBACK;
//   - heapKB, stackKB, rssKB: idle, after debug.FreeOSMemory and two more
//     GCs (a GC halves an oversized goroutine stack at most once, so one GC
//     is not enough to see the floor);
//   - goroutines per connection.
//
// auth=deep uses an Authenticator that needs ~24 KB of stack, like the
// gateway's SQLite lookup. The client sockets of the benchmark live in the
// same process (~0.3 KB heap each, no goroutines).
//
//	go test -run '^$' -bench BenchmarkIdleConnMemory -benchtime=1x -count=3 ./gateway/internal/broker/
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 2000
	for _, bc := range []struct {
		name string
		auth Authenticator
	}{{"auth=trivial", acceptAll{}}, {"auth=deep", deepAuth{24}}} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				idleConnMemory(b, n, bc.auth)
			}
		})
	}
}

func idleConnMemory(b *testing.B, n int, auth Authenticator) {
	br, err := New(Config{Listen: "127.0.0.1:0", Logger: quietLogger()}, auth, nopHandler{})
	require.NoError(b, err)
	require.NoError(b, br.Start())
	defer br.Close()
	var before, peak, after runtime.MemStats
	debug.FreeOSMemory()
	runtime.ReadMemStats(&before)
	rss0 := vmRSS()
	g0 := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	const par = 16
	for p := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += par {
				conns[i] = dialModem(b, br.Addr().String(), benchIMEI(i), true)
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	require.Equal(b, n, br.Count())
	runtime.ReadMemStats(&peak)
	rssPeak := vmRSS()
	debug.FreeOSMemory()
	runtime.GC()
	gcTime := time.Hour // the least of three forced collections
	for range 3 {
		gc0 := time.Now()
		runtime.GC()
		gcTime = min(gcTime, time.Since(gc0))
	}
	runtime.ReadMemStats(&after)
	rss := vmRSS()
	perConn := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) / 1024 }
	b.ReportMetric(perConn(peak.StackInuse, before.StackInuse), "peakStackKB/conn")
	b.ReportMetric((rssPeak-rss0)/float64(n)/1024, "peakRSSKB/conn")
	b.ReportMetric(perConn(after.HeapInuse, before.HeapInuse), "heapKB/conn")
	b.ReportMetric(perConn(after.StackInuse, before.StackInuse), "stackKB/conn")
	b.ReportMetric(perConn(after.HeapInuse+after.StackInuse, before.HeapInuse+before.StackInuse), "KB/conn")
	b.ReportMetric((rss-rss0)/float64(n)/1024, "rssKB/conn")
	b.ReportMetric(float64(runtime.NumGoroutine()-g0)/float64(n), "goroutines/conn")
	b.ReportMetric(float64(gcTime.Nanoseconds())/float64(n), "gc-ns/conn")
}

// BenchmarkConnect connects n modems at once (CONNECT, CONNACK, SUBSCRIBE,
// SUBACK; 64 dialing at a time) and reports the process CPU per connection,
// the clients' share included: a reconnect storm's cost per modem on the
// broker side. Compare figures of this benchmark with each other.
func BenchmarkConnect(b *testing.B) {
	const n, par = 2000, 64
	var cpu time.Duration
	conns := 0
	for b.Loop() {
		b.StopTimer()
		br, err := New(Config{Listen: "127.0.0.1:0", Logger: quietLogger()}, acceptAll{}, nopHandler{})
		require.NoError(b, err)
		require.NoError(b, br.Start())
		cs := make([]net.Conn, n)
		cpu0 := proccpu.Used()
		b.StartTimer()
		var wg sync.WaitGroup
		for p := range par {
			wg.Go(func() {
				for i := p; i < n; i += par {
					cs[i] = dialModem(b, br.Addr().String(), benchIMEI(i), true)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		cpu += proccpu.Used() - cpu0
		conns += n
		for _, c := range cs {
			_ = c.Close()
		}
		br.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(conns), "cpu-µs/conn")
}

// deliveredHandler is nopHandler that signals every Delivered on the
// modem's channel.
type deliveredHandler struct {
	nopHandler
	ch map[string]chan struct{} // IMEI → Delivered; written before the broker starts
}

func (h deliveredHandler) Delivered(c Conn, _ string) { h.ch[c.IMEI] <- struct{}{} }

// ackCommands reads the commands a bare-socket modem gets and PUBACKs each
// QoS 1 one at once, until the connection ends.
func ackCommands(c net.Conn) {
	r := bufio.NewReader(c)
	ack := []byte{0x40, 2, 0, 0}
	for {
		first, err := r.ReadByte()
		if err != nil {
			return
		}
		n, _, err := packets.DecodeLength(r)
		if err != nil {
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		if first>>4 != packets.Publish || (first>>1)&3 == 0 || n < 4 {
			continue
		}
		at := 2 + int(body[0])<<8 | int(body[1]) // the packet id follows the topic
		ack[2], ack[3] = body[at], body[at+1]
		if _, err := c.Write(ack); err != nil {
			return
		}
	}
}

// BenchmarkCommandPublish sends QoS 1 commands with Broker.Publish the way
// the command service does: to 1 or 64 subscribed modems (bare sockets that
// PUBACK every command at once), one command in flight per modem, the next
// one published when Delivered reports the previous PUBACK. It reports the
// process CPU per command (the modems' side included: compare figures of
// this benchmark with each other) and the Publish → Delivered round trip.
//
//	go test -run '^$' -bench BenchmarkCommandPublish -benchmem -count 3 ./gateway/internal/broker/
func BenchmarkCommandPublish(b *testing.B) {
	for _, modems := range []int{1, 64} {
		b.Run(fmt.Sprintf("modems=%d", modems), func(b *testing.B) { commandPublish(b, modems) })
	}
}

func commandPublish(b *testing.B, modems int) {
	h := deliveredHandler{ch: make(map[string]chan struct{}, modems)}
	for i := range modems {
		h.ch[benchIMEI(i)] = make(chan struct{}, 1)
	}
	br, err := New(Config{Listen: "127.0.0.1:0", Logger: quietLogger()}, acceptAll{}, h)
	require.NoError(b, err)
	require.NoError(b, br.Start())
	defer br.Close()
	var readers sync.WaitGroup
	defer readers.Wait()
	for i := range modems {
		c := dialModem(b, br.Addr().String(), benchIMEI(i), true)
		defer c.Close()
		readers.Go(func() { ackCommands(c) })
	}
	require.Eventually(b, func() bool { return br.Count() == modems }, wait, time.Millisecond)
	payload := []byte(`{"v":1,"id":"01JDZ3K6F4V9Q2W8E5R7T1Y3U6","ts":1764100000000,"cmd":"cashless_mode","args":{"mode":1},"exp":1764186400000}`)
	var next atomic.Int64
	lats := make([][]time.Duration, modems)
	errs := make(chan error, modems)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := proccpu.Used()
	start := time.Now()
	var senders sync.WaitGroup
	for k := range modems {
		imei := benchIMEI(k)
		topic := protocol.CommandRequestTopic(imei, "01JDZ3K6F4V9Q2W8E5R7T1Y3U6")
		senders.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := br.Publish(imei, topic, payload, 1); err != nil {
					errs <- err
					return
				}
				select {
				case <-h.ch[imei]:
				case <-time.After(wait):
					errs <- fmt.Errorf("%s: no Delivered within %v", imei, wait)
					return
				}
				lats[k] = append(lats[k], time.Since(t0))
			}
		})
	}
	senders.Wait()
	el := time.Since(start)
	cpu := proccpu.Used() - cpu0
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/cmd")
	b.ReportMetric(float64(b.N)/el.Seconds(), "cmds/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}
