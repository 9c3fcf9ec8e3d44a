package sqlite

import (
	"context"
	"database/sql"
	"strconv"

	"vendgate/gateway/internal/store"
)

var _ store.BulkPresence = (*DB)(nil)

// qMarkOffline applies an offline presence per [modem id, epoch] pair of a
// JSON array with the rule of the uplinks' presence (qPresence in
// uplinks.go): only where the stored epoch is not newer than the
// connection's, i.e. the modem has not reconnected since.
//
// A row that goes offline is stamped for the machine list with ?2, a value
// taken from machine_list_seq once per statement, which keeps
// modems_list_update from stamping it again with two statements of its own
// (migration 0010): less than half the cost per modem.
const qMarkOffline = `UPDATE modems SET online = 0, epoch = j.value->>1,
	chg = CASE WHEN online != 0 THEN ?2 ELSE chg END
	FROM json_each(?1) j
	WHERE modems.id = j.value->>0 AND modems.epoch <= j.value->>1`

// qListStamp takes the next value of the machine list's change version.
const qListStamp = `UPDATE machine_list_seq SET v = v + 1 WHERE id = 1 RETURNING v`

// markOfflineChunk bounds one statement's JSON (about 40 bytes a pair).
const markOfflineChunk = 8192

// MarkOffline implements store.BulkPresence: one UPDATE per 8,192
// connections, all in one transaction, instead of a presence uplink each.
func (d *DB) MarkOffline(ctx context.Context, gone []store.ConnEpoch) (int, error) {
	if len(gone) == 0 {
		return 0, nil
	}
	n := 0
	err := d.write(ctx, func(tx *sql.Tx) error {
		n = 0
		buf := make([]byte, 0, 40*min(len(gone), markOfflineChunk))
		for rest := gone; len(rest) > 0; {
			chunk := rest[:min(len(rest), markOfflineChunk)]
			rest = rest[len(chunk):]
			buf = append(buf[:0], '[')
			for i, g := range chunk {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, '[')
				buf = strconv.AppendInt(buf, g.ModemID, 10)
				buf = append(buf, ',')
				buf = strconv.AppendInt(buf, int64(g.Epoch), 10)
				buf = append(buf, ']')
			}
			buf = append(buf, ']')
			// Fresh per chunk: greater than every stamp so far, so the
			// rows stamped with it differ from their old chg.
			var stamp int64
			if err := tx.QueryRowContext(ctx, qListStamp).Scan(&stamp); err != nil {
				return dbErr("mark offline: list version", err)
			}
			res, err := tx.ExecContext(ctx, qMarkOffline, string(buf), stamp)
			if err != nil {
				return dbErr("mark offline", err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return dbErr("mark offline", err)
			}
			n += int(k)
		}
		return nil
	})
	return n, err
}
