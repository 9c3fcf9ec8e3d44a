package api

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

const msgModemNotFound = "Modem not found"

// modemJSON is a modem in GET /v2/modems and /v2/modems/{id}; empty strings are
// null as in the spec's list example.
type modemJSON struct {
	ID          int64   `json:"id"`
	IMEI        string  `json:"imei"`
	ICCID       *string `json:"iccid"`
	HWVersion   *string `json:"hw_version"`
	BootVersion *string `json:"boot_version"`
	Firmware    *string `json:"firmware"`
	Phone       *string `json:"phone"`
}

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toModemJSON(m store.Modem) modemJSON {
	return modemJSON{
		ID: m.ID, IMEI: m.IMEI, ICCID: nullStr(m.ICCID), HWVersion: nullStr(m.HWVersion),
		BootVersion: nullStr(m.BootVersion), Firmware: nullStr(m.Firmware), Phone: nullStr(m.Phone),
	}
}

// modemFor loads a modem the caller may see (canSeeModem); another company's,
// or for an operator one bound to a machine outside their groups, is a 404.
func (s *server) modemFor(r *http.Request, sess *session, id int64) (store.Modem, error) {
	m, err := s.cfg.Store.GetModem(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Modem{}, errNotFound(msgModemNotFound)
	}
	if err != nil {
		return store.Modem{}, err
	}
	s.modemCos.put(m.ID, m.CompanyID)
	ok, err := s.canSeeModem(r.Context(), sess.User, m)
	if err != nil {
		return store.Modem{}, err
	}
	if !ok {
		return store.Modem{}, errNotFound(msgModemNotFound)
	}
	return m, nil
}

func (s *server) handleModemList(w http.ResponseWriter, r *http.Request, sess *session) error {
	ms, err := s.cfg.Store.ListModems(r.Context(), sess.User.CompanyID)
	if err != nil {
		return err
	}
	see, err := s.modemFilter(r.Context(), sess.User)
	if err != nil {
		return err
	}
	out := make([]modemJSON, 0, len(ms))
	for _, m := range ms {
		if see(m) {
			out = append(out, toModemJSON(m))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) handleModemGet(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r, "id", msgModemNotFound)
	if err != nil {
		return err
	}
	m, err := s.modemFor(r, sess, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toModemJSON(m))
	return nil
}

var phoneRe = regexp.MustCompile(`^\+?[0-9]{5,20}$`)

// checkPhone validates an optional phone number ("" clears it).
func checkPhone(v *validator, field string, p optStr) {
	v.maxLen(field, p, 21)
	if p.Set && !p.Null && p.V != "" && !v.failed(field) && !phoneRe.MatchString(p.V) {
		v.add(field, "The "+attr(field)+" format is invalid.")
	}
}

// handleModemUpdate is PUT /v2/modems/{id}: the phone number.
func (s *server) handleModemUpdate(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r, "id", msgModemNotFound)
	if err != nil {
		return err
	}
	m, err := s.modemFor(r, sess, id)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	v := newValidator(p)
	phone := v.str("phone")
	checkPhone(v, "phone", phone)
	if err := v.err(); err != nil {
		return err
	}
	if phone.Set {
		if err := s.cfg.Store.UpdateModemPhone(r.Context(), m.ID, phone.V); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"res": true})
	return nil
}

var imeiRe = regexp.MustCompile(`^[0-9]{14,17}$`)

// handleModemCreate is POST /v2/modems (vendgate extension, admin only):
// provisioning a modem with its MQTT password. A password left out is generated
// and returned once; only its hash is stored.
func (s *server) handleModemCreate(w http.ResponseWriter, r *http.Request, sess *session) error {
	if err := requireRole(sess, RoleAdmin); err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	v := newValidator(p)
	imei, pass, phone, iccid := v.str("imei"), v.str("password"), v.str("phone"), v.str("iccid")
	v.required("imei", imei.Set && imei.V != "", imei.Null)
	if imei.V != "" && !v.failed("imei") && !imeiRe.MatchString(imei.V) {
		v.add("imei", "The imei must be 14 to 17 digits.")
	}
	if pass.Set && !pass.Null && !v.failed("password") {
		if n := len([]rune(pass.V)); n < auth.MinModemPassword || n > 128 {
			v.add("password", "The password must be between "+strconv.Itoa(auth.MinModemPassword)+" and 128 characters.")
		}
	}
	checkPhone(v, "phone", phone)
	v.maxLen("iccid", iccid, 32)
	if err := v.err(); err != nil {
		return err
	}
	generated := ""
	secret := pass.V
	if secret == "" {
		if secret, err = auth.RandomPassword(20); err != nil {
			return err
		}
		generated = secret
	}
	hash, err := auth.Hash(secret, auth.ModemIterations)
	if err != nil {
		return err
	}
	m := &store.Modem{
		CompanyID: sess.User.CompanyID, IMEI: imei.V, PasswordHash: hash,
		Phone: phone.V, ICCID: iccid.V, CreatedAt: s.cfg.Now(),
	}
	if err := s.cfg.Store.CreateModem(r.Context(), m); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errField("imei", "The imei has already been taken.")
		}
		return err
	}
	resp := map[string]any{"res": true, "resource": map[string]int64{"id": m.ID}}
	if generated != "" {
		resp["password"] = generated
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// Bounds of a cashless credit given through /set.
const (
	maxCreditKopecks = 100_000_000 // one million rubles: far above any vend
	maxCreditVends   = 100
)

// parseCredit reads the spec's cashless_credit "credit[,amount][,autoapprove]":
// credit in rubles with up to two decimals, amount = number of vends (default
// 1), autoapprove 0|1 (default 0).
func parseCredit(s string) (protocol.CashlessCreditArgs, bool) {
	parts := strings.Split(s, ",")
	if len(parts) > 3 {
		return protocol.CashlessCreditArgs{}, false
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	kop, ok := parseRubles(parts[0])
	if !ok || kop <= 0 || kop > maxCreditKopecks {
		return protocol.CashlessCreditArgs{}, false
	}
	args := protocol.CashlessCreditArgs{Amount: kop, Vends: 1}
	if len(parts) > 1 && parts[1] != "" {
		n, err := strconv.Atoi(parts[1])
		if err != nil || n < 1 || n > maxCreditVends {
			return protocol.CashlessCreditArgs{}, false
		}
		args.Vends = n
	}
	if len(parts) > 2 && parts[2] != "" {
		switch parts[2] {
		case "0":
		case "1":
			args.AutoApprove = true
		default:
			return protocol.CashlessCreditArgs{}, false
		}
	}
	return args, true
}

// parseRubles reads "100", "100.5" or "100.50" as kopecks.
func parseRubles(s string) (int64, bool) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 12 || (hasDot && (frac == "" || len(frac) > 2)) {
		return 0, false
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, false
			}
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/100 {
		return 0, false
	}
	var f int64
	if frac != "" {
		f, _ = strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
	}
	return w*100 + f, true
}

// setCommand is one command a /set field asks for.
type setCommand struct {
	name protocol.CommandName
	args any
}

// parseSet validates the body of POST /v2/modems/{id}/set. Nothing is sent unless
// every given field is valid.
func parseSet(p *params) ([]setCommand, error) {
	v := newValidator(p)
	var cmds []setCommand
	if mode := v.boolean("cashless_mode"); mode.Set && !mode.Null {
		cmds = append(cmds, setCommand{protocol.CmdCashlessMode, protocol.CashlessModeArgs{Enabled: mode.V}})
	} else if mode.Null {
		v.add("cashless_mode", "The selected cashless mode is invalid.")
	}
	if addr := v.integer("cashless_address"); addr.Set {
		if addr.Null || (addr.V != 1 && addr.V != 2) {
			v.add("cashless_address", "The selected cashless address is invalid.")
		} else {
			cmds = append(cmds, setCommand{protocol.CmdCashlessAddress, protocol.CashlessAddressArgs{Address: int(addr.V)}})
		}
	}
	if pv, ok := p.get("cashless_credit"); ok {
		text := pv.text
		valid := true
		if pv.isJSON() {
			// A JSON number ("credit" only) is accepted as well as the spec's string.
			var str string
			var num json.Number
			switch {
			case json.Unmarshal(pv.raw, &str) == nil:
				text = str
			case json.Unmarshal(pv.raw, &num) == nil:
				text = num.String()
			default:
				valid = false
			}
		}
		args, ok := parseCredit(text)
		if !valid || !ok {
			v.add("cashless_credit", "The cashless credit format is invalid: expected \"credit[,vends][,autoapprove]\" with credit in rubles > 0.")
		} else {
			cmds = append(cmds, setCommand{protocol.CmdCashlessCredit, args})
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if len(cmds) == 0 {
		msg := "One of cashless_mode, cashless_address, cashless_credit is required."
		return nil, errValidation(map[string][]string{
			"cashless_mode": {msg}, "cashless_address": {msg}, "cashless_credit": {msg},
		})
	}
	return cmds, nil
}

// handleModemSet is POST /v2/modems/{id}/set: each field given submits one
// command; the response lists their ids (extension "commands").
func (s *server) handleModemSet(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r, "id", msgModemNotFound)
	if err != nil {
		return err
	}
	vmID, err := s.setTarget(r, sess, id)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	cmds, err := parseSet(p)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(cmds))
	for _, c := range cmds {
		cid := ""
		if key != "" {
			cid = key + "." + string(c.name)
		}
		cmd, err := s.submit(r, sess, cid, id, vmID, c.name, c.args)
		if err != nil {
			return err
		}
		ids = append(ids, cmd.ID)
	}
	writeRawJSON(w, http.StatusOK, appendSetAnswer(make([]byte, 0, 32+48*len(ids)), ids))
	return nil
}
