package sqlite

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"vendgate/gateway/internal/store"
)

// BenchmarkAnswers writes the answers of 256 sent commands as a modem gives
// them, "accepted" then "succeeded", in one batch: the ingest writer's shape
// under command load. Reports the writer's time per command.
func BenchmarkAnswers(b *testing.B) {
	for _, engine := range []string{"file", "memory"} {
		b.Run(engine, func(b *testing.B) {
			db := openEngine(b, engine)
			ids := benchModems(b, db, 256)
			args := json.RawMessage(`{}`)
			n := 0
			var ups []store.Uplink
			for b.Loop() {
				b.StopTimer()
				ups = ups[:0]
				now := t0.Add(time.Duration(n) * time.Millisecond)
				for _, modem := range ids {
					n++
					id := fmt.Sprint("cmd-", n)
					if _, _, err := db.CreateCommand(ctx, store.Command{ID: id, ModemID: modem, Name: "reboot", Args: args,
						CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
						b.Fatal(err)
					}
					if err := db.MarkSent(ctx, id, now); err != nil {
						b.Fatal(err)
					}
					for _, st := range []string{"accepted", "succeeded"} {
						ups = append(ups, store.Uplink{Kind: store.UpResult, ModemID: modem, Received: now,
							Result: &store.CommandResult{CommandID: id, Status: st}})
					}
				}
				b.StartTimer()
				if err := db.ApplyUplinks(ctx, ups); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(ids)), "µs/cmd")
		})
	}
}
