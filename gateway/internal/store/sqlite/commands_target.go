package sqlite

import "context"

// ModemTarget returns the company of the modem with that id and the id of the
// machine it is installed in (0: none), store.ErrNotFound when there is no
// such modem: in one read, the two columns POST /v2/modems/{id}/set needs for
// an admin (the driver's cost is per column read, and the modem row has two
// dozen).
func (d *DB) ModemTarget(ctx context.Context, modemID int64) (companyID, vmID int64, err error) {
	r, err := d.reader()
	if err != nil {
		return 0, 0, err
	}
	err = r.QueryRowContext(ctx, `SELECT company_id,
		coalesce((SELECT id FROM machines WHERE modem_id = modems.id), 0)
		FROM modems WHERE id = ?`, modemID).Scan(&companyID, &vmID)
	if err != nil {
		return 0, 0, dbErr("modem target", err)
	}
	return companyID, vmID, nil
}

// ModemCompanies calls fn with the id and company of every modem, for a cache
// that starts warm (the API's modem → company cache: a modem's company never
// changes).
func (d *DB) ModemCompanies(ctx context.Context, fn func(modemID, companyID int64)) error {
	r, err := d.reader()
	if err != nil {
		return err
	}
	rows, err := r.QueryContext(ctx, `SELECT id, company_id FROM modems`)
	if err != nil {
		return dbErr("modem companies", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, company int64
		if err := rows.Scan(&id, &company); err != nil {
			return dbErr("modem companies", err)
		}
		fn(id, company)
	}
	return dbErr("modem companies", rows.Err())
}
