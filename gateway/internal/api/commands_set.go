package api

import (
	"context"
	"errors"
	"net/http"

	"vendgate/gateway/internal/store"
)

// modemTargetReader is a store that reads just a modem's company and the id of
// its machine (the sqlite store's ModemTarget): the cheapest read that decides
// POST /v2/modems/{id}/set for a caller who sees the whole company.
type modemTargetReader interface {
	ModemTarget(ctx context.Context, modemID int64) (companyID, vmID int64, err error)
}

// setTarget returns the id of the machine of the modem of POST
// /v2/modems/{id}/set (0: none), not found when the caller does not see the
// modem. A caller who sees the whole company needs no machine to decide, so
// one read answers both when the store allows, and none when the modem's
// company is known (modemCompanyCache): the machine is then left to the
// command's create (store.MachineOfModem). Others go through modemFor, whose
// machine look-up decides visibility. The machine is read on every request,
// never remembered: a modem moves between machines, possibly through another
// process, and the command is recorded as its machine's data.
func (s *server) setTarget(r *http.Request, sess *session, id int64) (int64, error) {
	if seesCompany(sess.User) {
		if company, ok := s.modemCos.get(id); ok {
			if company != sess.User.CompanyID {
				return 0, errNotFound(msgModemNotFound)
			}
			return store.MachineOfModem, nil // resolved by the create (store.Command contract)
		}
		if mt, ok := s.cfg.Store.(modemTargetReader); ok {
			company, vmID, err := mt.ModemTarget(r.Context(), id)
			if errors.Is(err, store.ErrNotFound) {
				return 0, errNotFound(msgModemNotFound)
			}
			if err != nil {
				return 0, err
			}
			s.modemCos.put(id, company)
			if company != sess.User.CompanyID {
				return 0, errNotFound(msgModemNotFound)
			}
			return vmID, nil
		}
	}
	m, err := s.modemFor(r, sess, id)
	if err != nil {
		return 0, err
	}
	var vmID int64
	if vm, err := s.cfg.Store.GetMachineByModem(r.Context(), m.ID); err == nil {
		vmID = vm.ID
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	return vmID, nil
}
