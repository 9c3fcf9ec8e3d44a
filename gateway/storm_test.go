package gateway

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/emulator/rawmqtt"
	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/command"
	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
	"vendgate/internal/proccpu"
	"vendgate/protocol"
)

// stormN is the fleet size of TestRestartStorm: small by default so the test
// is quick; VENDGATE_STORM_N=5000 measures (both ends of every connection are
// in this process: stay under half the open-file limit).
func stormN(t *testing.T) int {
	if s := os.Getenv("VENDGATE_STORM_N"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	return 40
}

func stormIMEI(i int) string { return fmt.Sprintf("86%013d", i) }

const stormPassword = "storm-password-0001"

// stormDir returns a data directory (in memory when it can) with modems
// [0, n) and an admin whose password hash is cheap (the gateway would hash
// one with auth.UserIterations at its first start: seconds under -race).
func stormDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "vendgate-storm-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	var lines strings.Builder
	for i := range n {
		fmt.Fprintf(&lines, "%s %s\n", stormIMEI(i), stormPassword)
	}
	_, err := ImportModems(context.Background(), dir, strings.NewReader(lines.String()))
	require.NoError(t, err)
	db, err := sqlite.Open(context.Background(), DBPath(dir))
	require.NoError(t, err)
	defer db.Close()
	hash, err := auth.Hash("admin-password-1", 1)
	require.NoError(t, err)
	require.NoError(t, db.CreateUser(context.Background(), &store.User{CompanyID: store.DefaultCompanyID,
		Email: "admin@vendgate.local", PasswordHash: hash, Role: "admin", Active: true, CreatedAt: time.Now()}))
	return dir
}

// stormGateway is one gateway process of the test.
type stormGateway struct {
	g       *Gateway
	cancel  context.CancelFunc
	done    chan error
	startup time.Duration // New until the MQTT listener accepts
}

func startStorm(t *testing.T, dir string) *stormGateway {
	t.Helper()
	t0 := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	var log *slog.Logger // VENDGATE_STORM_LOG=info|debug: the gateway's records on stderr
	if s := os.Getenv("VENDGATE_STORM_LOG"); s != "" {
		level := slog.LevelInfo
		if s == "debug" {
			level = slog.LevelDebug
		}
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	g, err := New(ctx, Config{DataDir: dir, MQTTListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
		AdminPassword: "admin-password-1", MaxClients: 19500}, log)
	require.NoError(t, err)
	s := &stormGateway{g: g, cancel: cancel, done: make(chan error, 1)}
	up := make(chan struct{})
	go func() { s.done <- g.Run(ctx, func() { close(up) }) }()
	select {
	case <-up:
	case err := <-s.done:
		t.Fatalf("gateway ended at start: %v", err)
	}
	s.startup = time.Since(t0)
	return s
}

// stop shuts the gateway down and returns how long Run took to return.
func (s *stormGateway) stop(t *testing.T) time.Duration {
	t.Helper()
	t0 := time.Now()
	s.cancel()
	select {
	case err := <-s.done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("gateway did not stop in 60 s")
	}
	return time.Since(t0)
}

// connectAll connects modems [0, n) with at most par handshakes at once; each
// subscribes to its commands and reads until its connection ends.
func connectAll(t *testing.T, addr string, n, par int, wg *sync.WaitGroup) {
	connectAllCounting(t, addr, n, par, wg, nil)
}

// connectAllCounting is connectAll; cmds, when set, counts the commands
// (PUBLISH on a command topic) the modems receive.
func connectAllCounting(t *testing.T, addr string, n, par int, wg *sync.WaitGroup, cmds *atomic.Int64) {
	t.Helper()
	connectFleet(t, addr, n, par, wg, fleetWatch{cmds: cmds})
}

// fleetWatch is what connectFleet reports: cmds counts the commands
// (PUBLISH on a command topic) the modems receive; firstEnd, when set, is
// stamped with the time the first modem saw its connection end (Unix ns).
type fleetWatch struct {
	cmds     *atomic.Int64
	firstEnd *atomic.Int64
	conns    func(i int, c *rawmqtt.Conn) // each modem's connection, once subscribed
	acked    func(m *rawmqtt.Message)     // a PUBACK of the modem's uplink m
}

// connectFleet is connectAllCounting with every fleetWatch field.
func connectFleet(t *testing.T, addr string, n, par int, wg *sync.WaitGroup, watch fleetWatch) {
	t.Helper()
	cmds := watch.cmds
	sem := make(chan struct{}, par)
	var failed atomic.Int64
	var dial sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		dial.Go(func() {
			defer func() { <-sem }()
			imei := stormIMEI(i)
			var c *rawmqtt.Conn
			var err error
			for try := 0; try < 20; try++ { // a full accept backlog refuses: retry like a modem
				c, err = rawmqtt.Dial(context.Background(), rawmqtt.Config{Addr: addr, Timeout: 30 * time.Second,
					Connect: rawmqtt.ConnectOptions{ClientID: imei, Username: imei, Password: stormPassword, Keepalive: 120, CleanSession: true}})
				if err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				failed.Add(1)
				return
			}
			if _, err := c.Subscribe(protocol.CommandRequestFilter(imei), 1); err != nil {
				failed.Add(1)
				_ = c.Close()
				return
			}
			if watch.conns != nil {
				watch.conns(i, c)
			}
			wg.Go(func() {
				defer c.Close()
				for {
					p, m, err := c.ReadPacket()
					if err != nil {
						if watch.firstEnd != nil {
							watch.firstEnd.CompareAndSwap(0, time.Now().UnixNano())
						}
						return
					}
					if watch.acked != nil && p.Type == rawmqtt.PUBACK && m != nil {
						watch.acked(m)
					}
					if cmds != nil && p.Type == rawmqtt.PUBLISH && strings.Contains(p.Topic, "/cmd/req/") {
						cmds.Add(1)
					}
				}
			})
		})
	}
	dial.Wait()
	require.Zero(t, failed.Load(), "modems that could not connect")
}

// profile writes a CPU profile of fn to $VENDGATE_STORM_PROFILE/name.pprof
// when that variable is set.
func profile(t *testing.T, name string, fn func()) {
	dir := os.Getenv("VENDGATE_STORM_PROFILE")
	if dir == "" {
		fn()
		return
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, pprof.StartCPUProfile(f))
	defer pprof.StopCPUProfile()
	fn()
}

// countOnline reads the stored presence with a connection of its own.
func countOnline(t *testing.T, dir string) (online, total int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+DBPath(dir)+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.QueryRow(`SELECT coalesce(sum(online), 0), count(*) FROM modems`).Scan(&online, &total))
	return online, total
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRestartStorm connects a fleet of real TCP modems, shuts the gateway
// down (every modem must be stored offline), starts a new gateway process on
// the same data directory and lets the whole fleet reconnect at once (every
// modem back and stored online). It logs the shutdown time, the startup time
// and the wall and CPU time of the reconnect; with VENDGATE_STORM_N it is the
// storm benchmark of issue #7:
//
//	VENDGATE_STORM_N=5000 go test -run '^TestRestartStorm$' -v ./gateway/
func TestRestartStorm(t *testing.T) {
	n := stormN(t)
	dir := stormDir(t, n)

	gw := startStorm(t, dir)
	var readers sync.WaitGroup
	connectAll(t, gw.g.MQTTAddr().String(), n, 256, &readers)
	waitFor(t, "every modem connected and stored", 60*time.Second, func() bool {
		on, _ := countOnline(t, dir)
		return gw.g.br.Count() == n && on == n
	})

	cpu0 := proccpu.Used()
	var shutdown time.Duration
	profile(t, "shutdown", func() { shutdown = gw.stop(t) })
	shutdownCPU := proccpu.Used() - cpu0
	readers.Wait()
	on, total := countOnline(t, dir)
	require.Equal(t, n, total)
	require.Zero(t, on, "modems still stored online after the shutdown")

	cpu0 = proccpu.Used()
	gw = startStorm(t, dir)
	// Commands for offline modems, queued before the storm: delivered when
	// each modem subscribes again.
	nc := min(n, 10)
	if s := os.Getenv("VENDGATE_STORM_CMDS"); s != "" {
		var err error
		nc, err = strconv.Atoi(s)
		require.NoError(t, err)
	}
	for i := range nc {
		m, err := gw.g.db.GetModemByIMEI(context.Background(), stormIMEI(i*n/nc))
		require.NoError(t, err)
		_, _, err = gw.g.cmds.Submit(context.Background(), command.Request{ModemID: m.ID, Name: protocol.CmdRequest,
			Args: protocol.RequestArgs{Config: true}})
		require.NoError(t, err)
	}
	var delivered atomic.Int64
	t0 := time.Now()
	profile(t, "reconnect", func() { connectAllCounting(t, gw.g.MQTTAddr().String(), n, 2000, &readers, &delivered) })
	connected := time.Since(t0)
	waitFor(t, "every modem stored online", 60*time.Second, func() bool {
		on, _ := countOnline(t, dir)
		return gw.g.br.Count() == n && on == n
	})
	stored := time.Since(t0)
	waitFor(t, "every queued command delivered", 60*time.Second, func() bool { return delivered.Load() >= int64(nc) })
	cmdsDone := time.Since(t0)
	stormCPU := proccpu.Used() - cpu0
	t.Logf("n=%d shutdown=%v (cpu %v) startup=%v reconnect: all CONNACKed %v (%.0f/s), all stored online %v, %d queued commands delivered %v, cpu %v (both ends)",
		n, shutdown.Round(time.Millisecond), shutdownCPU.Round(time.Millisecond), gw.startup.Round(time.Millisecond),
		connected.Round(time.Millisecond), float64(n)/connected.Seconds(), stored.Round(time.Millisecond),
		nc, cmdsDone.Round(time.Millisecond), stormCPU.Round(time.Millisecond))
	gw.stop(t)
	readers.Wait()
	on, _ = countOnline(t, dir)
	require.Zero(t, on)
}

// TestShutdownKeepsReconnectedModemOnline: two gateway workers share a data
// directory. A modem connected to worker A connects to worker B too (as a
// modem does that lost its link to A unnoticed); A's shutdown then writes its
// connections offline in bulk, and the modem, whose newer connection to B is
// stored, stays online. A modem connected only to A goes offline.
func TestShutdownKeepsReconnectedModemOnline(t *testing.T) {
	dir := stormDir(t, 2)
	epoch := func(i int) (online bool, e int64) {
		db, err := sql.Open("sqlite", "file:"+DBPath(dir)+"?mode=ro")
		require.NoError(t, err)
		defer db.Close()
		require.NoError(t, db.QueryRow(`SELECT online, epoch FROM modems WHERE imei = ?`, stormIMEI(i)).Scan(&online, &e))
		return online, e
	}

	a := startStorm(t, dir)
	var readers sync.WaitGroup
	connectAll(t, a.g.MQTTAddr().String(), 2, 2, &readers)
	waitFor(t, "both online via A", 10*time.Second, func() bool {
		on, _ := countOnline(t, dir)
		return on == 2
	})
	_, ea := epoch(0)

	b := startStorm(t, dir)
	connectAll(t, b.g.MQTTAddr().String(), 1, 1, &readers) // modem 0 only
	waitFor(t, "modem 0's connection to B stored", 10*time.Second, func() bool {
		on, e := epoch(0)
		return on && e > ea
	})
	_, eb := epoch(0)

	a.stop(t)
	on, e := epoch(0)
	assert.True(t, on, "modem 0 is connected to B")
	assert.Equal(t, eb, e)
	on, _ = epoch(1)
	assert.False(t, on, "modem 1 was connected to A only")

	b.stop(t)
	readers.Wait()
	on, _ = epoch(0)
	assert.False(t, on)
}

// TestStartupTime measures New until the MQTT listener accepts, on a store
// of VENDGATE_STARTUP_N modems (skipped without it):
//
//	VENDGATE_STARTUP_N=19000 go test -run '^TestStartupTime$' -v ./gateway/
func TestStartupTime(t *testing.T) {
	s := os.Getenv("VENDGATE_STARTUP_N")
	if s == "" {
		t.Skip("VENDGATE_STARTUP_N not set")
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	dir := stormDir(t, n)
	for range 5 {
		cpu0 := proccpu.Used()
		gw := startStorm(t, dir)
		startCPU := proccpu.Used() - cpu0
		loaded := time.Now()
		waitFor(t, "credential table loaded", 10*time.Second, func() bool { return gw.g.creds.Len() == n })
		t.Logf("n=%d startup %v (cpu %v); credential table loaded %v later", n, gw.startup.Round(time.Millisecond),
			startCPU.Round(time.Millisecond), time.Since(loaded).Round(time.Millisecond))
		gw.stop(t)
	}
}

// TestShutdownWindow measures the graceful shutdown with a fleet of real TCP
// modems connected: the time from the stop (SIGTERM) until Run returns, and
// the time from the first modem seeing its connection end until Run returns
// — the window in which that modem's reconnects are refused (the next
// process is not listening yet), which grows its reconnect backoff. The
// modems publish vends throughout the shutdown: every vend the gateway
// acknowledged must be stored. With VENDGATE_STORM_N it is a benchmark:
//
//	VENDGATE_STORM_N=5000 go test -run '^TestShutdownWindow$' -v ./gateway/
func TestShutdownWindow(t *testing.T) {
	n := stormN(t)
	dir := stormDir(t, n)
	gw := startStorm(t, dir)
	var readers sync.WaitGroup
	var firstEnd atomic.Int64
	conns := make([]*rawmqtt.Conn, n)
	var mu sync.Mutex
	acked := map[string]bool{} // vend message ids the gateway acknowledged
	connectFleet(t, gw.g.MQTTAddr().String(), n, 256, &readers, fleetWatch{firstEnd: &firstEnd,
		conns: func(i int, c *rawmqtt.Conn) { conns[i] = c },
		acked: func(m *rawmqtt.Message) {
			mu.Lock()
			acked[fmt.Sprintf("v%d", m.Tag)] = true
			mu.Unlock()
		}})
	waitFor(t, "every modem connected and stored", 60*time.Second, func() bool {
		on, _ := countOnline(t, dir)
		return gw.g.br.Count() == n && on == n
	})

	// Vends, round robin over the fleet, until the connections end
	// (VENDGATE_STORM_VENDS=0: none, for a shutdown of idle modems).
	stopVends := make(chan struct{})
	if os.Getenv("VENDGATE_STORM_VENDS") == "0" {
		close(stopVends)
	}
	var sent atomic.Int64
	var vender sync.WaitGroup
	vender.Go(func() {
		for k := int64(0); ; k++ {
			select {
			case <-stopVends:
				return
			default:
			}
			if firstEnd.Load() != 0 { // connections closing: stay off the CPU being measured
				return
			}
			i := int(k) % n
			payload, err := protocol.Encode(protocol.Vend{Header: protocol.Header{V: 1, ID: fmt.Sprintf("v%d", k), TS: time.Now().UnixMilli()},
				Selection: "1", Price: 100, Payment: protocol.PayCash, Type: protocol.VendPaid, OK: true, Time: time.Now().UnixMilli()})
			if err != nil {
				panic(err)
			}
			if _, err := conns[i].Publish(protocol.TopicFor(stormIMEI(i), protocol.ClassVend), payload, 1, false, k); err == nil {
				sent.Add(1)
			}
			if k%64 == 63 {
				time.Sleep(time.Millisecond) // ~50,000 a second at most
			}
		}
	})
	if os.Getenv("VENDGATE_STORM_VENDS") != "0" {
		waitFor(t, "a vend acknowledged", 10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) > 0
		})
	}

	cpu0 := proccpu.Used()
	t0 := time.Now()
	var total time.Duration
	profile(t, "shutdown", func() { total = gw.stop(t) })
	end := time.Now()
	cpu := proccpu.Used() - cpu0
	readers.Wait()
	if os.Getenv("VENDGATE_STORM_VENDS") != "0" {
		close(stopVends)
	}
	vender.Wait()
	require.NotZero(t, firstEnd.Load())
	window := end.Sub(time.Unix(0, firstEnd.Load()))
	on, _ := countOnline(t, dir)
	require.Zero(t, on, "modems still stored online after the shutdown")

	db, err := sql.Open("sqlite", "file:"+DBPath(dir)+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT msg_id FROM vends`)
	require.NoError(t, err)
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		stored[id] = true
	}
	require.NoError(t, rows.Err())
	lost := 0
	for id := range acked {
		if !stored[id] {
			lost++
		}
	}
	require.Zero(t, lost, "acknowledged vends not stored")
	t.Logf("n=%d shutdown %v (cpu %v, both ends); first modem disconnected %v after the stop, %v before Run returned; vends sent %d, acknowledged %d, stored %d",
		n, total.Round(time.Millisecond), cpu.Round(time.Millisecond), time.Unix(0, firstEnd.Load()).Sub(t0).Round(time.Millisecond),
		window.Round(time.Millisecond), sent.Load(), len(acked), len(stored))
}
