package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(fastTempDir(t), "v.db")
	db, err := Open(ctx, path)
	require.NoError(t, err)
	v, err := db.SchemaVersion(ctx)
	require.NoError(t, err)
	ms, err := loadMigrations()
	require.NoError(t, err)
	require.Equal(t, ms[len(ms)-1].version, v)

	m := store.Modem{IMEI: "860000000000001", Caps: []string{"reboot"}, CreatedAt: t0}
	require.NoError(t, db.CreateModem(ctx, &m))
	vm := store.Machine{Name: "vm", ModemID: &m.ID, CreatedAt: t0}
	require.NoError(t, db.CreateMachine(ctx, &vm, false))
	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{
		{Kind: store.UpVend, ModemID: m.ID, Received: t0, Vend: &store.Vend{MsgID: "v1", OK: true, Time: t0}},
		{Kind: store.UpPresence, ModemID: m.ID, Received: t0, Presence: &store.Presence{Online: true, Epoch: 3}},
	}))
	require.NoError(t, db.Close())
	require.Error(t, db.Close(), "second close")

	for range 2 { // reopening twice: migrations are idempotent
		db, err = Open(ctx, path)
		require.NoError(t, err)
		var n int
		require.NoError(t, db.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n))
		assert.Equal(t, len(ms), n, "each migration recorded once")
		got, err := db.GetModem(ctx, m.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{"reboot"}, got.Caps)
		assert.True(t, got.Online)
		assert.EqualValues(t, 3, got.Epoch)
		gvm, err := db.GetMachine(ctx, vm.ID)
		require.NoError(t, err)
		assert.Equal(t, t0, gvm.LastSale)
		_, vends, _, err := db.CountUplinks(ctx, m.ID)
		require.NoError(t, err)
		assert.Equal(t, 1, vends)
		require.NoError(t, db.Close())
	}
}

func TestPragmas(t *testing.T) {
	db := openTemp(t)
	var mode string
	var fk, sync, busy int
	require.NoError(t, db.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode))
	require.NoError(t, db.w.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk))
	require.NoError(t, db.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync))
	require.NoError(t, db.w.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy))
	assert.Equal(t, "wal", mode)
	assert.Equal(t, 1, fk)
	assert.Equal(t, 1, sync, "NORMAL")
	assert.Equal(t, int(busyTimeout.Milliseconds()), busy)
	// Readers cannot write.
	_, err := db.r.ExecContext(ctx, `UPDATE companies SET name = 'x'`)
	require.Error(t, err)
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(fastTempDir(t), "v.db")
	db, err := Open(ctx, path)
	require.NoError(t, err)
	_, err = db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = Open(ctx, path)
	require.ErrorContains(t, err, "newer")
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(ctx, "")
	require.Error(t, err)
	_, err = Open(ctx, filepath.Join(t.TempDir(), "a?b.db"))
	require.Error(t, err)
	_, err = Open(ctx, filepath.Join(t.TempDir(), "missing-dir", "x.db"))
	require.Error(t, err)
	notDB := filepath.Join(t.TempDir(), "junk.db")
	require.NoError(t, os.WriteFile(notDB, []byte("this is not a database file at all, not even close......"), 0o600))
	_, err = Open(ctx, notDB)
	require.Error(t, err)
}

func TestMemoryDatabasesAreSeparate(t *testing.T) {
	a, err := Open(ctx, MemoryPath)
	require.NoError(t, err)
	defer a.Close()
	b, err := Open(ctx, MemoryPath)
	require.NoError(t, err)
	defer b.Close()
	m := store.Modem{IMEI: "1"}
	require.NoError(t, a.CreateModem(ctx, &m))
	_, err = b.GetModemByIMEI(ctx, "1")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = a.GetModemByIMEI(ctx, "1")
	require.NoError(t, err)
}

func TestApplyUplinksRefusesMalformedBatch(t *testing.T) {
	db := openTemp(t)
	m := store.Modem{IMEI: "1"}
	require.NoError(t, db.CreateModem(ctx, &m))
	err := db.ApplyUplinks(ctx, []store.Uplink{
		{Kind: store.UpEvent, ModemID: m.ID, Received: t0, Event: &store.Event{MsgID: "e1", Time: t0}},
		{Kind: store.UpVend, ModemID: m.ID, Received: t0}, // Vend missing
	})
	require.ErrorContains(t, err, "uplink 1")
	ev, _, _, err := db.CountUplinks(ctx, m.ID)
	require.NoError(t, err)
	assert.Zero(t, ev, "nothing of the batch written")
	require.Error(t, db.ApplyUplinks(ctx, []store.Uplink{{Kind: 0, ModemID: m.ID}}))
}

func TestEmptyMsgIDNotDeduplicated(t *testing.T) {
	db := openTemp(t)
	m := store.Modem{IMEI: "1"}
	require.NoError(t, db.CreateModem(ctx, &m))
	up := store.Uplink{Kind: store.UpEvent, ModemID: m.ID, Received: t0, Event: &store.Event{Code: "x", Time: t0}}
	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{up, up}))
	ev, _, _, err := db.CountUplinks(ctx, m.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, ev)
}

func TestHelloKeepsPhoneWhenEmpty(t *testing.T) {
	db := openTemp(t)
	m := store.Modem{IMEI: "1", Phone: "+100"}
	require.NoError(t, db.CreateModem(ctx, &m))
	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpHello, ModemID: m.ID, Received: t0,
		Hello: &store.Hello{Firmware: "2"}}}))
	got, err := db.GetModem(ctx, m.ID)
	require.NoError(t, err)
	assert.Equal(t, "+100", got.Phone)
	assert.Equal(t, "2", got.Firmware)
}

// TestIndexesUsed checks the query paths hit their indexes rather than scanning.
func TestIndexesUsed(t *testing.T) {
	db := openTemp(t)
	cases := map[string]string{
		`SELECT * FROM events WHERE vm_id = 1 AND time >= 0 AND time <= 5 ORDER BY time, id`:                              "events_vm_time",
		`SELECT * FROM vends WHERE vm_id = 1 AND time >= 0 AND time <= 5 ORDER BY time, id`:                               "vends_vm_time",
		`SELECT * FROM audits WHERE vm_id = 1 AND time >= 0 AND time <= 5`:                                                "audits_vm_time",
		`SELECT * FROM commands WHERE modem_id = 1 AND state = 'queued' ORDER BY created_at`:                              "commands_modem_state",
		`SELECT id FROM commands WHERE state IN ('queued', 'sent', 'acknowledged') AND expires_at > 0 AND expires_at < 9`: "commands_expiry",
		`SELECT * FROM modems WHERE imei = 'x'`:                                                                           "modems_imei",
		`SELECT * FROM machines WHERE modem_id = 1`:                                                                       "machines_modem",
		`SELECT count(*) FROM events WHERE modem_id = 1`:                                                                  "events_msg",
	}
	for q, idx := range cases {
		rows, err := db.r.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q)
		require.NoError(t, err)
		var plan string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
			plan += detail + "\n"
		}
		require.NoError(t, rows.Close())
		assert.Contains(t, plan, idx, q)
	}
}

// TestConcurrentReadersDuringApply runs readers and a second writer while
// ApplyUplinks batches commit, under -race: readers must never fail, see counts
// go backwards or see a half-applied batch.
func TestConcurrentReadersDuringApply(t *testing.T) {
	db := openTemp(t)
	const modems, batches = 10, 20
	var ids, vms []int64
	for i := range modems {
		m := store.Modem{IMEI: fmt.Sprint(i), CreatedAt: t0}
		require.NoError(t, db.CreateModem(ctx, &m))
		vm := store.Machine{ModemID: &m.ID, CreatedAt: t0}
		require.NoError(t, db.CreateMachine(ctx, &vm, false))
		ids, vms = append(ids, m.ID), append(vms, vm.ID)
	}

	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	// Writer: each batch gives every modem one event and one heartbeat.
	wg.Go(func() {
		defer done.Store(true)
		for b := range batches {
			var batch []store.Uplink
			for i, id := range ids {
				tm := t0.Add(time.Duration(b) * time.Second)
				batch = append(batch,
					store.Uplink{Kind: store.UpHeartbeat, ModemID: id, Received: tm, Heartbeat: &store.Heartbeat{Uptime: int64(b)}},
					store.Uplink{Kind: store.UpEvent, ModemID: id, Received: tm,
						Event: &store.Event{MsgID: fmt.Sprintf("%d-%d", b, i), Code: "c", Time: tm}})
			}
			if err := db.ApplyUplinks(ctx, batch); err != nil {
				report(err)
				return
			}
		}
	})
	// A second writer competes for the single writer connection.
	wg.Go(func() {
		for i := 0; !done.Load(); i++ {
			id := fmt.Sprintf("cmd-%d", i)
			if _, _, err := db.CreateCommand(ctx, store.Command{ID: id, ModemID: ids[i%modems], Name: "x", CreatedAt: t0}); err != nil {
				report(err)
				return
			}
			if err := db.MarkSent(ctx, id, t0); err != nil {
				report(err)
				return
			}
		}
	})
	for r := range 3 {
		wg.Go(func() {
			last := make([]int, modems)
			for !done.Load() {
				for i, id := range ids {
					ev, _, _, err := db.CountUplinks(ctx, id)
					if err != nil {
						report(err)
						return
					}
					if ev < last[i] {
						report(fmt.Errorf("reader %d: modem %d events went from %d to %d", r, id, last[i], ev))
						return
					}
					last[i] = ev
					// The modem is read before the events: the heartbeat of batch b
					// commits with event b, so at least Uptime+1 events must be listed.
					m, err := db.GetModem(ctx, id)
					if err != nil {
						report(err)
						return
					}
					evs, err := db.ListEvents(ctx, vms[i], time.Time{}, time.Time{})
					if err != nil {
						report(err)
						return
					}
					if !m.LastHB.IsZero() && len(evs) < int(m.Uptime)+1 {
						report(fmt.Errorf("reader %d: heartbeat %d visible without its event (%d events)", r, m.Uptime, len(evs)))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range ids {
		ev, _, _, err := db.CountUplinks(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, batches, ev)
	}
}
