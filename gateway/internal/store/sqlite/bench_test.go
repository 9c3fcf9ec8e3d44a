package sqlite

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// benchModems creates n modems, each bound to a machine.
func benchModems(b *testing.B, db *DB, n int) []int64 {
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
	var db *DB
	if engine == "file" {
		db = openDisk(b)
	} else {
		var err error
		db, err = Open(ctx, MemoryPath)
		require.NoError(b, err)
		b.Cleanup(func() { db.Close() })
	}
	ids := benchModems(b, db, 1000)
	payload := json.RawMessage(`{"door":"open"}`)
	batch := make([]store.Uplink, size)
	seq := 0
	b.ResetTimer()
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
			var db *DB
			if engine == "file" {
				db = openDisk(b)
			} else {
				var err error
				db, err = Open(ctx, MemoryPath)
				require.NoError(b, err)
				b.Cleanup(func() { db.Close() })
			}
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
