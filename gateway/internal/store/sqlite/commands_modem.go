package sqlite

import (
	"context"

	"vendgate/gateway/internal/store"
)

// ModemAndMachine returns the modem with that id and the id of the machine it
// is installed in (0: none), in one read: what POST /v2/modems/{id}/set needs
// before it submits (GetModem and GetMachineByModem together).
func (d *DB) ModemAndMachine(ctx context.Context, modemID int64) (store.Modem, int64, error) {
	r, err := d.reader()
	if err != nil {
		return store.Modem{}, 0, err
	}
	var vmID int64
	m, err := scanModem(withExtra{r.QueryRowContext(ctx, `SELECT `+modemCols+`,
		coalesce((SELECT id FROM machines WHERE modem_id = modems.id), 0)
		FROM modems WHERE id = ?`, modemID), []any{&vmID}})
	if err != nil {
		return store.Modem{}, 0, dbErr("get modem and machine", err)
	}
	return m, vmID, nil
}

// withExtra scans the columns after those a scan function knows into extra.
type withExtra struct {
	s     scanner
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.s.Scan(append(dest, w.extra...)...) }
