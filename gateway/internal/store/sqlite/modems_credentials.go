package sqlite

import (
	"context"

	"vendgate/gateway/internal/store"
)

var _ store.ModemCredentials = (*DB)(nil)

// ListModemCredentials implements store.ModemCredentials: one scan of the
// modems table (about 20 ms for 19,000 modems), on the logins' read pool.
func (d *DB) ListModemCredentials(ctx context.Context) ([]store.ModemCredential, error) {
	r, err := d.authReader()
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT id, imei, password_hash FROM modems`)
	if err != nil {
		return nil, dbErr("list modem credentials", err)
	}
	return collect(rows, "list modem credentials", func(s scanner) (store.ModemCredential, error) {
		var c store.ModemCredential
		err := s.Scan(&c.ID, &c.IMEI, &c.PasswordHash)
		return c, err
	})
}
