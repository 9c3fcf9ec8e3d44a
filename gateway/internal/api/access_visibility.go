package api

import (
	"context"
	"errors"
	"net/http"

	"vendgate/gateway/internal/store"
)

// subNoAccessStore is the subcode of the 501 of access routes (the same
// "E501" as every "not supported by this storage engine").
const subNoAccessStore = "E501"

// errNoAccessStore is the 501 of access routes when the engine lacks
// store.Access (a store without groups, requisites or companies).
func errNoAccessStore() *apiError {
	return errStatus(http.StatusNotImplemented, subNoAccessStore, "Not supported by this storage engine")
}

// accessStore returns the engine's access contracts, or the 501.
func (s *server) accessStore() (store.Access, error) {
	a, ok := s.cfg.Store.(store.Access)
	if !ok {
		return nil, errNoAccessStore()
	}
	return a, nil
}

// seesCompany reports whether the role sees every machine of its company (spec
// "Полный список ТА": "Для администраторов и старших операторов список ТА не
// ограничивается"); operators and unknown roles do not.
func seesCompany(u store.User) bool {
	return u.Role == RoleAdmin || u.Role == RoleSeniorOperator
}

// canSeeMachine is the machine visibility rule (spec "Полный список ТА"): no
// company sees another's machines; admins and senior operators see all of
// their company's; an operator sees only the machines of the groups assigned
// to them, possibly none. It fails closed: when the store has no groups or a
// lookup fails (logged), the operator does not see the machine, which callers
// answer with the machine's 404.
func (s *server) canSeeMachine(ctx context.Context, u store.User, m store.Machine) bool {
	if m.CompanyID != u.CompanyID {
		return false
	}
	if seesCompany(u) {
		return true
	}
	g, ok := s.cfg.Store.(store.Groups)
	if !ok {
		return false
	}
	seen, err := g.UserSeesMachine(ctx, u.ID, m.ID)
	if err != nil {
		s.log.Error("api: machine visibility", "user", u.ID, "vm", m.ID, "err", err)
		return false
	}
	return seen
}

// machineFilter returns the visibility rule of canSeeMachine for a list: one
// query for an operator instead of one per machine. Errors are the store's.
func (s *server) machineFilter(ctx context.Context, u store.User) (func(store.Machine) bool, error) {
	company := u.CompanyID
	if seesCompany(u) {
		return func(m store.Machine) bool { return m.CompanyID == company }, nil
	}
	g, ok := s.cfg.Store.(store.Groups)
	if !ok {
		return func(store.Machine) bool { return false }, nil
	}
	ids, err := g.UserMachines(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	set := make(map[int64]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	return func(m store.Machine) bool {
		_, ok := set[m.ID]
		return ok && m.CompanyID == company
	}, nil
}

// canSeeModem is the modem side of canSeeMachine: no company sees another's
// modems; for an operator, a modem bound to a machine they cannot see is
// hidden too (its settings, commands and state are that machine's data),
// while an unbound modem is company stock and stays visible. Errors are the
// store's.
func (s *server) canSeeModem(ctx context.Context, u store.User, m store.Modem) (bool, error) {
	if m.CompanyID != u.CompanyID {
		return false, nil
	}
	if seesCompany(u) {
		return true, nil
	}
	vm, err := s.cfg.Store.GetMachineByModem(ctx, m.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return s.canSeeMachine(ctx, u, vm), nil
}

// modemFilter is canSeeModem for a list: the machine list (kept in memory,
// machines_list.go) and one group query instead of queries per modem.
func (s *server) modemFilter(ctx context.Context, u store.User) (func(store.Modem) bool, error) {
	company := u.CompanyID
	if seesCompany(u) {
		return func(m store.Modem) bool { return m.CompanyID == company }, nil
	}
	rows, err := s.machineListRows(ctx, company)
	if err != nil {
		return nil, err
	}
	see, err := s.machineFilter(ctx, u)
	if err != nil {
		return nil, err
	}
	hidden := map[int64]struct{}{}
	for _, r := range rows {
		if vm := r.Machine; vm.ModemID != nil && !see(vm) {
			hidden[*vm.ModemID] = struct{}{}
		}
	}
	return func(m store.Modem) bool {
		_, h := hidden[m.ID]
		return m.CompanyID == company && !h
	}, nil
}
