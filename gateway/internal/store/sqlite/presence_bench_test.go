package sqlite

import (
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/internal/proccpu"
)

// BenchmarkReconnect is what a gateway restart costs the store per modem: every
// modem of the fleet (5,000, each bound to a machine) comes back with a new
// connection — its connect presence, its hello and its state — in the
// writer's batches of 512 uplinks, after the shutdown marked it offline (the
// bulk MarkOffline, timed on its own as offline-us/modem). cpu-us/modem is
// the process CPU per returning modem.
//
//	go test -run '^$' -bench '^BenchmarkReconnect$' -benchtime 5x ./gateway/internal/store/sqlite/
func BenchmarkReconnect(b *testing.B) {
	for _, engine := range []string{"file", "memory"} {
		b.Run(engine, func(b *testing.B) {
			db := openEngine(b, engine)
			const n, batch = 5000, 512
			ids := benchModems(b, db, n)
			hello := &store.Hello{ICCID: "8970101234567890123", HWVersion: "2.1", BootVersion: "1.0", Firmware: "3.4.5",
				Bus: "mdb", CashlessOn: true, CashlessAddr: 0x10, HBInterval: 300, Caps: []string{"audit", "vend"}}
			ups := make([]store.Uplink, 0, 3*n)
			gone := make([]store.ConnEpoch, n)
			var cpu, offline time.Duration
			at := t0
			for b.Loop() {
				at = at.Add(time.Minute)
				ups = ups[:0]
				for i, id := range ids {
					ep := uint64(at.UnixMicro()) + uint64(i)
					gone[i] = store.ConnEpoch{ModemID: id, Epoch: ep}
					ups = append(ups,
						store.Uplink{Kind: store.UpPresence, ModemID: id, Received: at, Presence: &store.Presence{Online: true, Epoch: ep}},
						store.Uplink{Kind: store.UpHello, ModemID: id, Received: at, Hello: hello},
						store.Uplink{Kind: store.UpPresence, ModemID: id, Received: at, Presence: &store.Presence{Online: true, Epoch: ep}})
				}
				c0 := proccpu.Used()
				for rest := ups; len(rest) > 0; {
					k := min(batch, len(rest))
					if err := db.ApplyUplinks(ctx, rest[:k]); err != nil {
						b.Fatal(err)
					}
					rest = rest[k:]
				}
				c1 := proccpu.Used()
				cpu += c1 - c0
				k, err := db.MarkOffline(ctx, gone)
				require.NoError(b, err)
				require.Equal(b, n, k)
				offline += proccpu.Used() - c1
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-us/modem")
			b.ReportMetric(float64(offline.Microseconds())/float64(b.N*n), "offline-us/modem")
		})
	}
}

// BenchmarkMarkOffline is the bulk offline of a shutdown of 5,000 connected
// modems: as MarkOffline writes it (the statement stamps the machine list
// once) and, for comparison, with the statement before migration 0010
// (modems_list_update stamps each row with two statements of its own).
//
//	go test -run '^$' -bench '^BenchmarkMarkOffline$' -benchtime 10x ./gateway/internal/store/sqlite/
func BenchmarkMarkOffline(b *testing.B) {
	const triggerStamped = `UPDATE modems SET online = 0, epoch = j.value->>1 FROM json_each(?) j
		WHERE modems.id = j.value->>0 AND modems.epoch <= j.value->>1`
	for _, stamp := range []string{"statement", "trigger"} {
		b.Run("stamp="+stamp, func(b *testing.B) {
			db, err := Open(ctx, MemoryPath)
			require.NoError(b, err)
			b.Cleanup(func() { db.Close() })
			const n = 5000
			ids := benchModems(b, db, n)
			gone := make([]store.ConnEpoch, n)
			ups := make([]store.Uplink, n)
			var cpu time.Duration
			at := t0
			for b.Loop() {
				b.StopTimer()
				at = at.Add(time.Minute)
				for i, id := range ids {
					ep := uint64(at.UnixMicro()) + uint64(i)
					gone[i] = store.ConnEpoch{ModemID: id, Epoch: ep}
					ups[i] = store.Uplink{Kind: store.UpPresence, ModemID: id, Received: at, Presence: &store.Presence{Online: true, Epoch: ep}}
				}
				require.NoError(b, db.ApplyUplinks(ctx, ups))
				b.StartTimer()
				c0 := proccpu.Used()
				if stamp == "statement" {
					k, err := db.MarkOffline(ctx, gone)
					require.NoError(b, err)
					require.Equal(b, n, k)
				} else {
					arg := []byte{'['}
					for i, g := range gone {
						if i > 0 {
							arg = append(arg, ',')
						}
						arg = append(strconv.AppendInt(append(arg, '['), g.ModemID, 10), ',')
						arg = append(strconv.AppendUint(arg, g.Epoch, 10), ']')
					}
					arg = append(arg, ']')
					require.NoError(b, db.write(ctx, func(tx *sql.Tx) error {
						_, err := tx.ExecContext(ctx, triggerStamped, string(arg))
						return err
					}))
				}
				cpu += proccpu.Used() - c0
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-us/modem")
		})
	}
}
