package sqlite

import (
	"encoding/json"
	"fmt"
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
