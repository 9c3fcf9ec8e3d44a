package sqlite

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// logModemWrites adds a test trigger recording every row write of modems by a
// statement setting a hello or presence column or chg (not the batch's
// last_seen touch), so a test can tell a skipped statement from one that
// rewrote the row unchanged.
func logModemWrites(t *testing.T, db *DB) func(id int64) int {
	t.Helper()
	require.NoError(t, db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE test_modem_writes (modem_id INTEGER NOT NULL)`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TRIGGER test_modem_writes AFTER UPDATE OF iccid, hw_version, boot_version, firmware,
			phone, bus, cashless_on, cashless_addr, hb_interval, caps, online, epoch, chg ON modems
			BEGIN INSERT INTO test_modem_writes (modem_id) VALUES (NEW.id); END`)
		return err
	}))
	return func(id int64) int {
		var n int
		require.NoError(t, db.write(ctx, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM test_modem_writes WHERE modem_id = ?`, id).Scan(&n); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM test_modem_writes`)
			return err
		}))
		return n
	}
}

func modemChg(t *testing.T, db *DB, id int64) int64 {
	t.Helper()
	var chg int64
	require.NoError(t, db.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT chg FROM modems WHERE id = ?`, id).Scan(&chg)
	}))
	return chg
}

// TestHelloUnchangedNotRewritten: a hello equal to the stored one leaves the
// row alone, and a hello differing in any one field is written (an empty phone
// keeps the stored one and so counts as equal).
func TestHelloUnchangedNotRewritten(t *testing.T) {
	base := store.Hello{ICCID: "8970101234567890123", HWVersion: "2.1", BootVersion: "1.0", Firmware: "3.4.5",
		Phone: "+100", Bus: "mdb", CashlessOn: true, CashlessAddr: 0x10, HBInterval: 300, Caps: []string{"audit", "vend"}}
	for _, tt := range []struct {
		name    string
		change  func(h *store.Hello)
		written bool
	}{
		{"same", func(*store.Hello) {}, false},
		{"empty phone", func(h *store.Hello) { h.Phone = "" }, false},
		{"iccid", func(h *store.Hello) { h.ICCID = "8970109999999999999" }, true},
		{"hw version", func(h *store.Hello) { h.HWVersion = "2.2" }, true},
		{"boot version", func(h *store.Hello) { h.BootVersion = "1.1" }, true},
		{"firmware", func(h *store.Hello) { h.Firmware = "3.4.6" }, true},
		{"phone", func(h *store.Hello) { h.Phone = "+200" }, true},
		{"bus", func(h *store.Hello) { h.Bus = "exe" }, true},
		{"cashless on", func(h *store.Hello) { h.CashlessOn = false }, true},
		{"cashless addr", func(h *store.Hello) { h.CashlessAddr = 0x60 }, true},
		{"hb interval", func(h *store.Hello) { h.HBInterval = 60 }, true},
		{"caps", func(h *store.Hello) { h.Caps = []string{"audit"} }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := openDisk(t)
			id := benchModems(t, db, 1)[0]
			writes := logModemWrites(t, db)
			first := base
			require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpHello, ModemID: id, Received: t0, Hello: &first}}))
			require.Positive(t, writes(id), "first hello")
			h := base
			tt.change(&h)
			// Received equal to the first: the batch's last_seen touch has nothing to write.
			require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{{Kind: store.UpHello, ModemID: id, Received: t0, Hello: &h}}))
			if tt.written {
				assert.Positive(t, writes(id), "changed hello not written")
			} else {
				assert.Zero(t, writes(id), "unchanged hello rewrote the row")
			}
			m, err := db.GetModem(ctx, id)
			require.NoError(t, err)
			want := h
			if want.Phone == "" {
				want.Phone = base.Phone
			}
			got := store.Hello{ICCID: m.ICCID, HWVersion: m.HWVersion, BootVersion: m.BootVersion, Firmware: m.Firmware,
				Phone: m.Phone, Bus: m.Bus, CashlessOn: m.CashlessOn, CashlessAddr: m.CashlessAddr, HBInterval: m.HBInterval, Caps: m.Caps}
			assert.Equal(t, want, got)
		})
	}
}

// TestPresenceStampsMachineList: a batch of presences stamps every modem whose
// online flag flips with one value of machine_list_seq (not two statements per
// row of the trigger), leaves the others' chg alone, and the machine list read
// after the version before the batch shows exactly the flipped machines with
// their new state, also when a trigger stamps a row of the batch in between.
func TestPresenceStampsMachineList(t *testing.T) {
	db := openDisk(t)
	ids := benchModems(t, db, 4)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	on := func(id int64, ep uint64, online bool) store.Uplink {
		return store.Uplink{Kind: store.UpPresence, ModemID: id, Received: at(1), Presence: &store.Presence{Online: online, Epoch: ep}}
	}
	// Modem 3 online already, and all have been seen (last_seen's zero-ness stamps).
	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{on(ids[0], 1, false), on(ids[1], 1, false),
		on(ids[2], 1, false), on(ids[3], 1, true)}))
	v0, err := db.MachineListVersion(ctx)
	require.NoError(t, err)
	chg3 := modemChg(t, db, ids[3])

	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{
		on(ids[0], 2, true), on(ids[1], 2, true),
		on(ids[3], 2, true), // a new connection of an online modem: no list change
	}))
	v1, err := db.MachineListVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, v0+1, v1, "one stamp for the batch")
	assert.Equal(t, v1, modemChg(t, db, ids[0]))
	assert.Equal(t, v1, modemChg(t, db, ids[1]))
	assert.Equal(t, chg3, modemChg(t, db, ids[3]), "unflipped modem stamped")

	m, err := db.GetModem(ctx, ids[0])
	require.NoError(t, err)
	rows, err := db.MachineListRows(ctx, m.CompanyID, v0)
	require.NoError(t, err)
	got := map[int64]bool{}
	for _, r := range rows {
		require.NotNil(t, r.Modem)
		got[r.Modem.ID] = r.Modem.Online
	}
	assert.Equal(t, map[int64]bool{ids[0]: true, ids[1]: true}, got)

	// Flip, trigger stamp (vm_link), flip back and forth in one batch: every
	// change is after v1, and the list ends with the final state.
	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{
		on(ids[2], 3, true),
		{Kind: store.UpHeartbeat, ModemID: ids[2], Received: at(2), Heartbeat: &store.Heartbeat{Uptime: 1, VMLink: true}},
		on(ids[2], 3, false),
		on(ids[0], 3, false), on(ids[0], 4, true), on(ids[0], 4, false),
	}))
	rows, err = db.MachineListRows(ctx, m.CompanyID, v1)
	require.NoError(t, err)
	got = map[int64]bool{}
	for _, r := range rows {
		got[r.Modem.ID] = r.Modem.Online
	}
	assert.Equal(t, map[int64]bool{ids[0]: false, ids[2]: false}, got)
	v2, err := db.MachineListVersion(ctx)
	require.NoError(t, err)
	rows, err = db.MachineListRows(ctx, m.CompanyID, v2)
	require.NoError(t, err)
	assert.Empty(t, rows, "stamp above the list version")
}

// TestPresenceIdenticalSkipped: a presence equal to the stored one (same
// epoch and online), in a later batch or the same one, does not write the
// row; one differing in either is applied.
func TestPresenceIdenticalSkipped(t *testing.T) {
	db := openDisk(t)
	id := benchModems(t, db, 1)[0]
	writes := logModemWrites(t, db)
	pres := func(ep uint64, online bool) store.Uplink {
		return store.Uplink{Kind: store.UpPresence, ModemID: id, Received: t0, Presence: &store.Presence{Online: online, Epoch: ep}}
	}
	require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{pres(5, true), pres(5, true)}))
	require.Positive(t, writes(id))
	for _, tt := range []struct {
		name    string
		up      store.Uplink
		written bool
		online  bool
		epoch   uint64
	}{
		{"identical", pres(5, true), false, true, 5},
		{"older epoch", pres(4, false), false, true, 5},
		{"newer epoch", pres(6, true), true, true, 6},
		{"same epoch offline", pres(6, false), true, false, 6},
		{"identical offline", pres(6, false), false, false, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, db.ApplyUplinks(ctx, []store.Uplink{tt.up}))
			n := writes(id)
			if tt.written {
				assert.Positive(t, n)
			} else {
				assert.Zero(t, n)
			}
			m, err := db.GetModem(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, tt.online, m.Online)
			assert.Equal(t, tt.epoch, m.Epoch)
		})
	}
}
