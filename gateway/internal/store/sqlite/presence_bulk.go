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
const qMarkOffline = `UPDATE modems SET online = 0, epoch = j.value->>1
	FROM json_each(?) j
	WHERE modems.id = j.value->>0 AND modems.epoch <= j.value->>1`

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
			res, err := tx.ExecContext(ctx, qMarkOffline, string(buf))
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
