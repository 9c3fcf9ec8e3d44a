package api

import (
	"errors"
	"net/http"
	"slices"

	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

const msgNoModem = "The vending machine has no modem."

func errNoModem() *apiError {
	e := errField("modem_id", msgNoModem)
	e.Message = msgNoModem
	return e
}

// handleVMReset is POST /v2/vending_machines/{id}/reset: reboot the modem.
func (s *server) handleVMReset(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	if m.ModemID == nil {
		return errNoModem()
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	cmd, err := s.submit(r, sess, key, *m.ModemID, m.ID, protocol.CmdReset, protocol.ResetArgs{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "command_id": cmd.ID})
	return nil
}

// wanted reports whether a /request attribute asks for its data. The spec says
// the attribute may have "any value"; explicit false, 0 and null do not ask.
func wanted(p *params, field string) bool {
	if !p.has(field) {
		return false
	}
	b := newValidator(p).boolean(field)
	if b.Set && (b.Null || !b.V) {
		return false
	}
	return true
}

// machineAction opens a command request about a machine: the machine the
// caller may act on (404 first), the request's parameters and its optional
// Idempotency-Key.
func (s *server) machineAction(w http.ResponseWriter, r *http.Request, sess *session) (store.Machine, *params, string, error) {
	m, err := s.machineFor(r, sess)
	if err != nil {
		return m, nil, "", err
	}
	p, err := readParams(w, r)
	if err != nil {
		return m, nil, "", err
	}
	key, err := idempotencyKey(r)
	return m, p, key, err
}

// handleVMRequest is POST /v2/vending_machines/{id}/request (spec "Запросить
// данные"): one open request per machine merges report and config.
func (s *server) handleVMRequest(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, p, key, err := s.machineAction(w, r, sess)
	if err != nil {
		return err
	}
	report, config := wanted(p, "report"), wanted(p, "config")
	if !report && !config {
		msg := "One of report, config is required."
		return errValidation(map[string][]string{"report": {msg}, "config": {msg}})
	}
	if m.ModemID == nil {
		return errNoModem()
	}
	// Each flag is merged on its own so that its progress says whether it was
	// already asked: only the flags new to the request are sent to the modem.
	ctx, now := r.Context(), s.cfg.Now()
	var req store.Request
	progress := true
	var args protocol.RequestArgs
	for _, f := range []struct {
		on             bool
		report, config bool
		dst            *bool
	}{{report, true, false, &args.Report}, {config, false, true, &args.Config}} {
		if !f.on {
			continue
		}
		got, already, err := s.cfg.Store.OpenRequest(ctx, m.ID, f.report, f.config, now)
		if err != nil {
			return err
		}
		req = got
		if !already {
			progress = false
			*f.dst = true
		}
	}
	resp := map[string]any{"request_id": req.ID, "progress": progress}
	if args.Report || args.Config {
		cmd, err := s.submit(r, sess, key, *m.ModemID, m.ID, protocol.CmdRequest, args)
		if err != nil {
			return err
		}
		resp["command_id"] = cmd.ID
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// handleVMRequestGet is GET /v2/vending_machines/{id}/request/{rid}: 200 while
// the request is open, 404 once it is done (or never existed).
func (s *server) handleVMRequestGet(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	rid, err := pathID(r, "rid", "Not found")
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.GetRequest(r.Context(), m.ID, rid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("Not found")
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"progress": true})
	return nil
}

// maxDiscount bounds a dispense discount (kopecks).
const maxDiscount = 100_000_000

// handleVMDispense is POST /v2/vending_machines/{id}/dispense (spec "Выдача
// напитка"). A modem that cannot dispense now gets the spec's 422 body with the
// modem's last contact in the machine's local time.
func (s *server) handleVMDispense(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, p, key, err := s.machineAction(w, r, sess)
	if err != nil {
		return err
	}
	v := newValidator(p)
	number, cup, sugar, discount := v.integer("number"), v.boolean("cup"), v.integer("sugar"), v.integer("discount")
	v.required("number", number.Set, number.Null)
	v.required("cup", cup.Set, cup.Null)
	v.required("sugar", sugar.Set, sugar.Null)
	v.between("number", number, 0, 1<<31-1)
	v.between("sugar", sugar, 0, 4)
	v.between("discount", discount, 0, maxDiscount)
	if err := v.err(); err != nil {
		return err
	}
	modem, err := s.machineModem(r, m)
	if err != nil {
		return err
	}
	if modem == nil || !s.canDispense(*modem) {
		data := map[string]any{"vm_id": m.ID, "modem_id": nil, "modem_time": nil}
		if modem != nil {
			data["modem_id"] = modem.ID
			if !modem.LastSeen.IsZero() {
				loc := s.machineLoc(m, true)
				data["modem_time"] = modem.LastSeen.In(loc).Format(modemTimeLayout)
			}
		}
		return &apiError{
			Status: http.StatusUnprocessableEntity, Subcode: SubInvalid,
			Message: "The modem cannot dispense now.",
			Extra:   map[string]any{"status": "error", "data": data},
		}
	}
	args := protocol.DispenseArgs{Number: int(number.V), Cup: cup.V, Sugar: int(sugar.V)}
	if discount.Set && !discount.Null {
		args.Discount = discount.V
	}
	cmd, err := s.submit(r, sess, key, modem.ID, m.ID, protocol.CmdDispense, args)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "command_id": cmd.ID})
	return nil
}

// canDispense: the modem is online, on a bus that can vend remotely, and (when it
// listed its capabilities) lists dispense. Empty caps mean all of v1.
func (s *server) canDispense(m store.Modem) bool {
	if m.Bus != string(protocol.BusMDB) && m.Bus != string(protocol.BusEXE) {
		return false
	}
	if len(m.Caps) > 0 && !slices.Contains(m.Caps, string(protocol.CmdDispense)) {
		return false
	}
	return s.cfg.Presence.Online(m, s.cfg.Now())
}

// maxVendistaCredit bounds one credit (kopecks): one million rubles.
const maxVendistaCredit = 100_000_000

// handleVMCredit is POST /v2/vending_machines/{id}/vendista-credit (spec
// "Начислить кредит"): a cashless credit the modem approves by itself.
func (s *server) handleVMCredit(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, p, key, err := s.machineAction(w, r, sess)
	if err != nil {
		return err
	}
	v := newValidator(p)
	amount := v.integer("amount")
	v.required("amount", amount.Set, amount.Null)
	v.between("amount", amount, 1, maxVendistaCredit)
	if err := v.err(); err != nil {
		ae := toAPIError(err)
		ae.Extra = map[string]any{"status": "error"}
		return ae
	}
	if m.ModemID == nil {
		e := errNoModem()
		e.Extra = map[string]any{"status": "error"}
		return e
	}
	args := protocol.CashlessCreditArgs{Amount: amount.V, AutoApprove: true}
	cmd, err := s.submit(r, sess, key, *m.ModemID, m.ID, protocol.CmdCashlessCredit, args)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "command_id": cmd.ID})
	return nil
}
