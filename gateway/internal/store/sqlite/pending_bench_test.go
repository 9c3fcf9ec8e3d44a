package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"vendgate/gateway/internal/store"
)

// BenchmarkDispatchable: a modem with nothing to do, after 10 or 10,000
// finished commands. The look-up must not grow with the history.
func BenchmarkDispatchable(b *testing.B) {
	for _, history := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			db := openDisk(b)
			modem := benchModems(b, db, 1)[0]
			args := json.RawMessage(`{"delay":5}`)
			for i := range history {
				now := t0.Add(time.Duration(i) * time.Second)
				id := fmt.Sprintf("old-%d", i)
				if _, _, err := db.CreateCommand(ctx, store.Command{ID: id, ModemID: modem, Name: "reboot", Args: args,
					CreatedAt: now}); err != nil {
					b.Fatal(err)
				}
				if err := db.Finish(ctx, id, store.CmdExpired, "old", now); err != nil {
					b.Fatal(err)
				}
			}
			now := t0.Add(time.Duration(history) * time.Second)
			b.ResetTimer()
			for b.Loop() {
				if _, ok, err := db.Dispatchable(ctx, modem, now); err != nil || ok {
					b.Fatalf("dispatchable: %v %v", ok, err)
				}
			}
		})
	}
}

// BenchmarkCommandCycleDirect is one command's life on the gateway's direct
// path: created already sent (one write), then its result.
func BenchmarkCommandCycleDirect(b *testing.B) {
	db := openDisk(b)
	ids := benchModems(b, db, 100)
	args := json.RawMessage(`{"delay":5}`)
	n := 0
	for b.Loop() {
		n++
		modem := ids[n%len(ids)]
		id := fmt.Sprintf("cmd-%d", n)
		now := t0.Add(time.Duration(n) * time.Millisecond)
		if _, _, err := db.CreateSentCommand(ctx, store.Command{ID: id, ModemID: modem, Name: "reboot", Args: args,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, now); err != nil {
			b.Fatal(err)
		}
		if err := db.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpResult, ModemID: modem, Received: now,
			Result: &store.CommandResult{CommandID: id, Status: "succeeded"}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
}

// BenchmarkCreateConcurrent: 64 callers create commands at once, through the
// group commit ("group") or a transaction each ("tx-each", the former path).
func BenchmarkCreateConcurrent(b *testing.B) {
	for _, mode := range []string{"group", "tx-each"} {
		b.Run(mode, func(b *testing.B) {
			db := openDisk(b)
			ids := benchModems(b, db, 64)
			args := json.RawMessage(`{"delay":5}`)
			var seq atomic.Int64
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					c := store.Command{ID: fmt.Sprintf("cmd-%d", n), ModemID: ids[n%64], Name: "reboot", Args: args,
						State: store.CmdQueued, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
					var err error
					if mode == "group" {
						_, _, err = db.CreateCommand(ctx, c)
					} else {
						err = db.write(ctx, func(tx *sql.Tx) error {
							ins, err := db.txStmt(ctx, tx, qCmdInsert)
							if err != nil {
								return err
							}
							_, err = ins.ExecContext(ctx, c.ID, c.ModemID, c.VMID, c.UserID, c.Name, rawJSON(c.Args),
								string(c.State), ms(c.CreatedAt), ms(c.ExpiresAt), 0, 0)
							return err
						})
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
