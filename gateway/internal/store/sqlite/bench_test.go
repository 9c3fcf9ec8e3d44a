package sqlite

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/internal/proccpu"
)

// benchModems creates n modems, each bound to a machine.
func benchModems(b testing.TB, db *DB, n int) []int64 {
	b.Helper()
	ids := make([]int64, n)
	for i := range ids {
		m := store.Modem{IMEI: fmt.Sprintf("86%013d", i), CreatedAt: t0}
		require.NoError(b, db.CreateModem(ctx, &m))
		vm := store.Machine{ModemID: &m.ID, CreatedAt: t0}
		require.NoError(b, db.CreateMachine(ctx, &vm, false))
		ids[i] = m.ID
	}
	return ids
}

// BenchmarkApplyUplinks writes batches mixing heartbeats and events (half each)
// from 1000 modems: to a file database as the gateway does, and to a memory one,
// which shows the CPU cost without the disk (checkpoint fsyncs).
func BenchmarkApplyUplinks(b *testing.B) {
	for _, engine := range []string{"file", "memory"} {
		for _, size := range []int{100, 500} {
			b.Run(fmt.Sprintf("%s/batch=%d", engine, size), func(b *testing.B) {
				benchApply(b, engine, size)
			})
		}
	}
}

func benchApply(b *testing.B, engine string, size int) {
	db := openEngine(b, engine)
	ids := benchModems(b, db, 1000)
	payload := json.RawMessage(`{"door":"open"}`)
	batch := make([]store.Uplink, size)
	seq := 0
	b.ResetTimer()
	cpu := proccpu.Used()
	for b.Loop() {
		for i := range batch {
			seq++
			id := ids[seq%len(ids)]
			tm := t0.Add(time.Duration(seq) * time.Millisecond)
			if i%2 == 0 {
				batch[i] = store.Uplink{Kind: store.UpHeartbeat, ModemID: id, Received: tm,
					Heartbeat: &store.Heartbeat{Uptime: int64(seq), Signal: 20, VMLink: true}}
			} else {
				batch[i] = store.Uplink{Kind: store.UpEvent, ModemID: id, Received: tm,
					Event: &store.Event{MsgID: fmt.Sprint(seq), Code: "door", Time: tm, Payload: payload}}
			}
		}
		if err := db.ApplyUplinks(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((proccpu.Used()-cpu).Microseconds())/float64(b.N*size), "cpu-us/uplink")
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "uplinks/s")
}

// BenchmarkApplyEvents writes batches of events only, shaped like the load
// run's flood (200 modems bound to machines, ids "f-<run>-<seq>", no
// payload), into a table that already holds events. cpu-us/uplink is the
// process CPU per event, which moves far less than ns/op on a shared
// machine; file minus memory is what the commits' page writes (WAL frames,
// checkpoints) cost: each commit writes about one leaf page per modem in each
// of the two event indexes, whatever the batch size.
func BenchmarkApplyEvents(b *testing.B) {
	for _, engine := range []string{"file", "memory"} {
		for _, size := range []int{512, 2048} {
			b.Run(fmt.Sprintf("%s/batch=%d", engine, size), func(b *testing.B) {
				benchEvents(b, engine, size)
			})
		}
	}
}

// benchEventsBacklog is how many events the table holds before the timed
// part: the hot leaf pages of the two event indexes (one per modem in each)
// are what a commit writes, and their number only settles once the indexes
// have a few levels, as in a gateway that has run a while.
const benchEventsBacklog = 300_000

func benchEvents(b *testing.B, engine string, size int) {
	db := openEngine(b, engine)
	ids := benchModems(b, db, 200)
	_, err := db.w.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO events (modem_id, vm_id, msg_id, code, time)
		SELECT m.id, v.id, 'old-' || n.i, 'LOADTEST', n.i FROM n
		JOIN modems m ON m.id = ?2 + n.i % ?3 JOIN machines v ON v.modem_id = m.id`,
		benchEventsBacklog, ids[0], len(ids))
	require.NoError(b, err)
	if engine == "file" {
		// The backlog's pages go to the database file now, not in the
		// first timed checkpoint.
		_, err = db.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		require.NoError(b, err)
	}
	batch := make([]store.Uplink, size)
	evs := make([]store.Event, size)
	seq := 0
	b.ResetTimer()
	cpu := proccpu.Used()
	for b.Loop() {
		for i := range batch {
			seq++
			id := ids[seq%len(ids)]
			tm := t0.Add(time.Duration(seq) * time.Millisecond)
			evs[i] = store.Event{MsgID: fmt.Sprintf("f-r1-%d", seq), Code: "LOADTEST", Time: tm}
			batch[i] = store.Uplink{Kind: store.UpEvent, ModemID: id, Received: tm, Event: &evs[i]}
		}
		if err := db.ApplyUplinks(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((proccpu.Used()-cpu).Microseconds())/float64(b.N*size), "cpu-us/uplink")
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "uplinks/s")
}

// BenchmarkCommandCycle is one command's life: create, next, mark sent, result.
func BenchmarkCommandCycle(b *testing.B) {
	db := openDisk(b)
	ids := benchModems(b, db, 100)
	args := json.RawMessage(`{"delay":5}`)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		n++
		modem := ids[n%len(ids)]
		id := fmt.Sprintf("cmd-%d", n)
		now := t0.Add(time.Duration(n) * time.Millisecond)
		if _, _, err := db.CreateCommand(ctx, store.Command{ID: id, ModemID: modem, Name: "reboot", Args: args,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		c, ok, err := db.NextCommand(ctx, modem, now)
		if err != nil || !ok || c.ID != id {
			b.Fatalf("next: %v %v %q", err, ok, c.ID)
		}
		if err := db.MarkSent(ctx, id, now); err != nil {
			b.Fatal(err)
		}
		if err := db.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpResult, ModemID: modem, Received: now,
			Result: &store.CommandResult{CommandID: id, Status: "succeeded"}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
}

// BenchmarkReadDuringApply measures GetModem latency while a writer applies
// batches of 500 back to back: "file" reads from the separate read pool (WAL
// lets them run beside the write transaction), "memory" has one connection for
// everything, as a file engine without a read pool would, so reads queue behind
// each batch.
func BenchmarkReadDuringApply(b *testing.B) {
	for _, engine := range []string{"file", "memory"} {
		b.Run(engine, func(b *testing.B) {
			db := openEngine(b, engine)
			ids := benchModems(b, db, 1000)
			stop := make(chan struct{})
			writerDone := make(chan struct{})
			go func() {
				defer close(writerDone)
				batch := make([]store.Uplink, 500)
				for seq := 0; ; {
					select {
					case <-stop:
						return
					default:
					}
					for i := range batch {
						seq++
						batch[i] = store.Uplink{Kind: store.UpHeartbeat, ModemID: ids[seq%len(ids)],
							Received: t0.Add(time.Duration(seq) * time.Millisecond), Heartbeat: &store.Heartbeat{Uptime: int64(seq)}}
					}
					if err := db.ApplyUplinks(ctx, batch); err != nil {
						panic(err)
					}
				}
			}()
			b.ResetTimer()
			n := 0
			for b.Loop() {
				n++
				if _, err := db.GetModem(ctx, ids[n%len(ids)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			close(stop)
			<-writerDone
		})
	}
}

// benchAuthData creates n modems with IMEIs and one user with a token: the rows
// a modem login and a REST request read.
func benchAuthData(b *testing.B, db *DB, n int) (imeis []string, userID int64, tokenHash string) {
	b.Helper()
	imeis = make([]string, n)
	for i := range imeis {
		m := store.Modem{IMEI: fmt.Sprintf("86%013d", i), PasswordHash: "pbkdf2-sha256$16$AAAA$AAAA", CreatedAt: t0}
		require.NoError(b, db.CreateModem(ctx, &m))
		imeis[i] = m.IMEI
	}
	u := store.User{Email: "bench@example.com", PasswordHash: "x", Role: "admin", Active: true, CreatedAt: t0}
	require.NoError(b, db.CreateUser(ctx, &u))
	tok := store.Token{UserID: u.ID, AccessHash: "bench-access", RefreshHash: "bench-refresh", Scope: "teleport",
		AccessExpires: t0.Add(time.Hour), RefreshExpires: t0.Add(time.Hour), CreatedAt: t0}
	require.NoError(b, db.CreateToken(ctx, &tok))
	return imeis, u.ID, tok.AccessHash
}

// cpuPerOp reports "cpu-us/op" when the returned func runs.
func cpuPerOp(b *testing.B) func() {
	start := proccpu.Used()
	return func() {
		b.ReportMetric(float64((proccpu.Used()-start).Microseconds())/float64(b.N), "cpu-us/op")
	}
}

// unprepared turns the read statement cache off (as before it existed): every
// query text is compiled per call.
func unprepared(db *DB) { db.rs.n.Store(maxReadStmts) }

// BenchmarkReads measures the point reads of a modem login (GetModemByIMEI) and
// of a REST request (token, then user) with and without the read statement
// cache, one goroutine per core.
func BenchmarkReads(b *testing.B) {
	for _, mode := range []string{"unprepared", "prepared"} {
		b.Run(mode, func(b *testing.B) {
			db := openDisk(b)
			if mode == "unprepared" {
				unprepared(db)
			}
			imeis, userID, tokenHash := benchAuthData(b, db, 2000)
			b.Run("modem-by-imei", func(b *testing.B) {
				defer cpuPerOp(b)()
				var n atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := db.GetModemByIMEI(ctx, imeis[int(n.Add(1))%len(imeis)]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("token+user", func(b *testing.B) {
				defer cpuPerOp(b)()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := db.GetTokenByAccess(ctx, tokenHash); err != nil {
							b.Error(err)
							return
						}
						if _, err := db.GetUser(ctx, userID); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkModemLoginDuringREST measures the latency of the modem-login read
// (GetModemByIMEI) from 8 concurrent "connections" while 4 goroutines run
// REST-like reads back to back (token, user, a 2,000-row modem list), for
// several read pool layouts: read = size of the general pool, auth = size of
// the logins' own pool (0: logins share the general pool, as before). It
// reports the logins' p50/p99 and the REST loop's rate, to show whether logins
// queue behind REST and what more connections cost REST on 2 cores.
func BenchmarkModemLoginDuringREST(b *testing.B) {
	defer func(r func() int, a int) { readConns, authConns = r, a }(readConns, authConns)
	for _, c := range []struct{ read, auth int }{{2, 0}, {4, 0}, {8, 0}, {2, 2}, {4, 2}} {
		b.Run(fmt.Sprintf("read=%d/auth=%d", c.read, c.auth), func(b *testing.B) {
			readConns, authConns = func() int { return c.read }, c.auth
			db := openDisk(b)
			imeis, userID, tokenHash := benchAuthData(b, db, 2000)
			stop := make(chan struct{})
			var (
				wg   sync.WaitGroup
				rest atomic.Int64
			)
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						_, _ = db.GetTokenByAccess(ctx, tokenHash)
						_, _ = db.GetUser(ctx, userID)
						_, _ = db.ListModems(ctx, store.DefaultCompanyID)
						rest.Add(1)
					}
				})
			}
			var (
				mu  sync.Mutex
				lat []time.Duration
				n   atomic.Int64
			)
			b.SetParallelism(4) // 8 goroutines on 2 cores
			b.ResetTimer()
			rest.Store(0)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					if _, err := db.GetModemByIMEI(ctx, imeis[int(n.Add(1))%len(imeis)]); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			el := time.Since(start)
			b.StopTimer()
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
			b.ReportMetric(float64(rest.Load())/el.Seconds(), "rest-loops/s")
		})
	}
}
