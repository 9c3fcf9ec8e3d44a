package gateway

import (
	"context"
	"errors"
	"time"

	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/store"
)

// Provision makes sure a modem with that IMEI exists with that password and is
// bound to a machine (created with machineName when the modem has none). It is
// how the demo fleet of `vendgate serve --demo N` is set up.
func (g *Gateway) Provision(ctx context.Context, imei, password, machineName string) error {
	hash, err := auth.Hash(password, auth.ModemIterations)
	if err != nil {
		return err
	}
	m := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: imei, PasswordHash: hash, CreatedAt: time.Now()}
	if err := g.db.CreateModem(ctx, m); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		if err := g.db.SetModemPassword(ctx, imei, hash); err != nil {
			return err
		}
		if g.creds != nil {
			g.creds.Forget(imei) // the old password stops working now, not at the next reload
		}
		got, err := g.db.GetModemByIMEI(ctx, imei)
		if err != nil {
			return err
		}
		m = &got
	}
	if _, err := g.db.GetMachineByModem(ctx, m.ID); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	id := m.ID
	return g.db.CreateMachine(ctx, &store.Machine{CompanyID: store.DefaultCompanyID, Name: machineName, ModemID: &id, CreatedAt: time.Now()}, false)
}
