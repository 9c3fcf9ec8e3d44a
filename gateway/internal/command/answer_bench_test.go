package command

import (
	"context"
	"fmt"
	"testing"
	"time"

	"vendgate/gateway/internal/store"
	"vendgate/internal/proccpu"
	"vendgate/protocol"
)

// BenchmarkDirectRoundTrip is one command's service and store work for an
// idle, connected modem: Submit (sent directly), the accepted and succeeded
// answers committed (one uplink batch each) and their follow-ups. "kept"
// tells the service of the committed answers (as the gateway wires the
// ingest writer), "read" does not, so the end reads the row back. Reports
// store reads (GetCommand + Dispatchable) per command.
func BenchmarkDirectRoundTrip(b *testing.B) {
	for _, kept := range []bool{false, true} {
		name := "read"
		if kept {
			name = "kept"
		}
		b.Run(name, func(b *testing.B) {
			e := newDirectB(b, true)
			ctx := context.Background()
			i := 0
			cpu0 := proccpu.Used()
			e.db.gets.Store(0)
			e.db.dispatchable.Store(0)
			for b.Loop() {
				i++
				id := fmt.Sprintf("b%07d", i)
				if _, _, err := e.s.Submit(ctx, Request{ID: id, ModemID: e.mid, Name: protocol.CmdCashlessMode,
					Args: protocol.CashlessModeArgs{Enabled: true}, TTL: time.Hour}); err != nil {
					b.Fatal(err)
				}
				for _, st := range []string{"accepted", "succeeded"} {
					up := store.Uplink{Kind: store.UpResult, ModemID: e.mid, Received: time.Now(),
						Result: &store.CommandResult{CommandID: id, Status: st}}
					if err := e.db.DB.ApplyUplinks(ctx, []store.Uplink{up}); err != nil {
						b.Fatal(err)
					}
					if kept {
						e.s.AnswersCommitted([]store.Uplink{up})
					}
					e.s.ResultStored(e.mid, *up.Result)
				}
			}
			b.ReportMetric(float64(e.db.gets.Load()+e.db.dispatchable.Load())/float64(i), "reads/cmd")
			b.ReportMetric(float64((proccpu.Used()-cpu0).Microseconds())/float64(i), "cpu-µs/cmd")
		})
	}
}

// newDirectB is newDirect for a benchmark (no warm-up assertions).
func newDirectB(b *testing.B, fenced bool) *directEnv {
	b.Helper()
	db := openDirect(b, b.TempDir()+"/b.db")
	m := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: imei, PasswordHash: "x", CreatedAt: time.Now()}
	if err := db.CreateModem(context.Background(), m); err != nil {
		b.Fatal(err)
	}
	pub := &fakePub{}
	s := New(db, pub, nil, Config{AckTimeout: time.Minute, ExecTimeout: time.Minute, Workers: 2})
	if !fenced {
		s.fencer = nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	for {
		s.mu.Lock()
		l := s.loaded
		s.mu.Unlock()
		if l {
			break
		}
		time.Sleep(time.Millisecond)
	}
	s.ModemReady(m.ID, imei)
	return &directEnv{s: s, pub: pub, db: db, mid: m.ID}
}

// BenchmarkFirstCommandOfConnection is a command that is its modem's first
// since it (re)connected, as in a load run where each modem gets few
// commands: without a fence it is queued, read by a dispatch and marked sent;
// with one it goes out directly. The answers are committed and kept as the
// gateway does.
func BenchmarkFirstCommandOfConnection(b *testing.B) {
	for _, fenced := range []bool{false, true} {
		b.Run(fmt.Sprintf("fenced=%v", fenced), func(b *testing.B) {
			e := newDirectB(b, fenced)
			ctx := context.Background()
			i := 0
			cpu0 := proccpu.Used()
			e.db.gets.Store(0)
			e.db.dispatchable.Store(0)
			for b.Loop() {
				i++
				id := fmt.Sprintf("f%07d", i)
				e.s.ModemGone(e.mid)
				e.s.ModemReady(e.mid, imei)
				if _, _, err := e.s.Submit(ctx, Request{ID: id, ModemID: e.mid, Name: protocol.CmdCashlessMode,
					Args: protocol.CashlessModeArgs{Enabled: true}, TTL: time.Hour}); err != nil {
					b.Fatal(err)
				}
				for len(e.pub.ids()) < i {
					time.Sleep(20 * time.Microsecond)
				}
				for _, st := range []string{"accepted", "succeeded"} {
					up := store.Uplink{Kind: store.UpResult, ModemID: e.mid, Received: time.Now(),
						Result: &store.CommandResult{CommandID: id, Status: st}}
					if err := e.db.DB.ApplyUplinks(ctx, []store.Uplink{up}); err != nil {
						b.Fatal(err)
					}
					e.s.AnswersCommitted([]store.Uplink{up})
					e.s.ResultStored(e.mid, *up.Result)
				}
				for e.pending() {
					time.Sleep(20 * time.Microsecond)
				}
			}
			b.ReportMetric(float64(e.db.gets.Load()+e.db.dispatchable.Load())/float64(i), "reads/cmd")
			b.ReportMetric(float64((proccpu.Used()-cpu0).Microseconds())/float64(i), "cpu-µs/cmd")
		})
	}
}
