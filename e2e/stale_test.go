package e2e

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// freezer is a TCP proxy that can stop forwarding without closing anything: a
// half-open cellular link, as the gateway sees it.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
}

func newFreezer(t testing.TB, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	f.cond = sync.NewCond(&f.mu)
	go f.serve()
	t.Cleanup(func() { ln.Close(); f.set(false) })
	return f
}

func (f *freezer) set(frozen bool) {
	f.mu.Lock()
	f.frozen = frozen
	f.mu.Unlock()
	f.cond.Broadcast()
}

func (f *freezer) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		go f.pipe(c, up)
		go f.pipe(up, c)
	}
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		for f.frozen {
			f.cond.Wait()
		}
		f.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				src.Close()
			}
			return
		}
	}
}

// TestHalfOpenLinkGoesStale: a modem whose link stops carrying anything while
// the TCP connection stays open is shown as state 3 after about 2.5 heartbeat
// intervals, and as state 1 again when its heartbeats come back.
func TestHalfOpenLinkGoesStale(t *testing.T) {
	g := startGateway(t, t.TempDir(), "127.0.0.1:0", nil)
	ctx := context.Background()
	imei := imeiN(11)
	if err := g.Provision(ctx, imei, modemPassword, "half-open"); err != nil {
		t.Fatal(err)
	}
	px := newFreezer(t, g.MQTTAddr().String())
	m := newModem(t, "tcp://"+px.ln.Addr().String(), imei, 11)
	f := &fleet{}
	defer f.stop()
	f.start(m)
	var vms []vmJSON
	g.api(t, "GET", "/v2/vending_machines", nil, 200, &vms)
	id := vms[0].ID
	eventually(t, 10*time.Second, "state 1", func() bool { return g.machineState(t, id) == 1 })
	px.set(true)
	frozeAt := time.Now()
	// Heartbeats every 1 s: stale after 2.5 s without news (keepalive 10 s would
	// take 15 s to notice).
	eventually(t, 6*time.Second, "state 3 while the link is frozen", func() bool { return g.machineState(t, id) == 3 })
	if d := time.Since(frozeAt); d < 2*time.Second {
		t.Fatalf("state 3 after %v, before the staleness window", d)
	}
	if g.metric(t, "vendgate_modems_connected") != 1 {
		t.Fatal("the broker should still hold the half-open connection")
	}
	px.set(false)
	eventually(t, 10*time.Second, "state 1 after the link thaws", func() bool { return g.machineState(t, id) == 1 })
}
