package api

import (
	"context"
	"errors"
	"net/http"

	"vendgate/gateway/internal/store"
)

// modemMachineReader is a store that reads a modem and the id of its machine
// together (the sqlite store's ModemAndMachine).
type modemMachineReader interface {
	ModemAndMachine(ctx context.Context, modemID int64) (store.Modem, int64, error)
}

// setTarget returns the modem of POST /v2/modems/{id}/set, not found when the
// caller does not see it, and the id of its machine (0: none). A caller who
// sees the whole company needs no machine to decide, so both come from one
// read when the store allows; others go through modemFor, whose machine
// look-up decides visibility.
func (s *server) setTarget(r *http.Request, sess *session, id int64) (store.Modem, int64, error) {
	if mm, ok := s.cfg.Store.(modemMachineReader); ok && seesCompany(sess.User) {
		m, vmID, err := mm.ModemAndMachine(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && m.CompanyID != sess.User.CompanyID) {
			return store.Modem{}, 0, errNotFound(msgModemNotFound)
		}
		return m, vmID, err
	}
	m, err := s.modemFor(r, sess, id)
	if err != nil {
		return store.Modem{}, 0, err
	}
	var vmID int64
	if vm, err := s.cfg.Store.GetMachineByModem(r.Context(), m.ID); err == nil {
		vmID = vm.ID
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Modem{}, 0, err
	}
	return m, vmID, nil
}
