package api

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"vendgate/gateway/internal/store"
)

const msgRegisterNotFound = "Register not found"

// Limits of the register fields.
const (
	maxRegisterName     = 255
	maxRegisterStation  = 64
	maxRegisterLocation = 255
	maxRegisterURL      = 2048
	maxPollInterval     = 86400 // seconds
)

// registerJSON is a register in /v2/registers.
type registerJSON struct {
	ID           int64               `json:"id"`
	Name         string              `json:"name"`
	StationID    *string             `json:"station_id"`
	BaseURL      string              `json:"base_url"`
	IP           string              `json:"ip"`
	Port         *int64              `json:"port"`
	Location     *string             `json:"location"`
	Enabled      bool                `json:"enabled"`
	PollInterval *int64              `json:"poll_interval"` // seconds; null = the gateway's default
	CreatedAt    *string             `json:"created_at"`
	UpdatedAt    *string             `json:"updated_at"`
	Status       *registerStatusJSON `json:"status"` // null until first polled
}

// registerStatusJSON is a register's derived state.
type registerStatusJSON struct {
	Status     int                    `json:"status"` // Petrosoft code: 0, 2, 3, 5, 6 (-1 not derived yet)
	StatusText string                 `json:"status_text"`
	Since      *string                `json:"since"`
	CheckedAt  *string                `json:"checked_at"`
	LastOKAt   *string                `json:"last_ok_at"`
	Alerts     []string               `json:"alerts"`
	Endpoints  []registerEndpointJSON `json:"endpoints"`
}

type registerEndpointJSON struct {
	Endpoint string  `json:"endpoint"`
	Code     *int    `json:"code"` // null: no answer
	Body     string  `json:"body"`
	Outcome  string  `json:"outcome"`
	Error    *string `json:"error"`
	At       *string `json:"at"`
}

var statusTexts = map[int]string{-1: "unknown", 0: "online", 2: "no_connection", 3: "bad_answer", 5: "login_refused", 6: "unknown_error"}

func toRegisterStatus(st store.RegisterState, loc *time.Location) *registerStatusJSON {
	out := &registerStatusJSON{Status: st.Status, StatusText: statusTexts[st.Status], Since: fmtTime(st.Since, loc),
		CheckedAt: fmtTime(st.Checked, loc), LastOKAt: fmtTime(st.LastOK, loc), Alerts: st.Alerts,
		Endpoints: make([]registerEndpointJSON, 0, len(st.Endpoints))}
	if out.Alerts == nil {
		out.Alerts = []string{}
	}
	for _, e := range st.Endpoints {
		ej := registerEndpointJSON{Endpoint: e.Endpoint, Body: e.Body, Outcome: e.Outcome, Error: nullStr(e.Error), At: fmtTime(e.At, loc)}
		if e.Code != 0 {
			c := e.Code
			ej.Code = &c
		}
		out.Endpoints = append(out.Endpoints, ej)
	}
	return out
}

func toRegisterJSON(r store.Register, st *store.RegisterState, loc *time.Location) registerJSON {
	out := registerJSON{ID: r.ID, Name: r.Name, StationID: nullStr(r.StationID), BaseURL: r.BaseURL,
		Location: nullStr(r.Location), Enabled: r.Enabled, CreatedAt: fmtTime(r.CreatedAt, loc), UpdatedAt: fmtTime(r.UpdatedAt, loc)}
	if u, err := url.Parse(r.BaseURL); err == nil {
		out.IP = u.Hostname()
		if p, err := strconv.ParseInt(u.Port(), 10, 64); err == nil {
			out.Port = &p
		}
	}
	if r.PollInterval > 0 {
		sec := int64(r.PollInterval / time.Second)
		out.PollInterval = &sec
	}
	if st != nil {
		out.Status = toRegisterStatus(*st, loc)
	}
	return out
}

// registers returns the store's register support, or the 501 in the spec's
// error shape when the engine has none.
func (s *server) registers() (store.Registers, error) {
	regs, ok := s.cfg.Store.(store.Registers)
	if !ok {
		return nil, errStatus(http.StatusNotImplemented, "E501", "Registers are not supported by this store")
	}
	return regs, nil
}

// registerFor loads a register of the caller's company; anything else is a 404.
func (s *server) registerFor(r *http.Request, sess *session) (store.Registers, store.Register, error) {
	regs, err := s.registers()
	if err != nil {
		return nil, store.Register{}, err
	}
	id, err := pathID(r, "id", msgRegisterNotFound)
	if err != nil {
		return nil, store.Register{}, err
	}
	reg, err := regs.GetRegister(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && reg.CompanyID != sess.User.CompanyID {
		return nil, store.Register{}, errNotFound(msgRegisterNotFound)
	}
	return regs, reg, err
}

func registerState(r *http.Request, regs store.Registers, id int64) (*store.RegisterState, error) {
	st, err := regs.GetRegisterState(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// handleRegisterList is GET /v2/registers: the company's registers with
// their status.
func (s *server) handleRegisterList(w http.ResponseWriter, r *http.Request, sess *session) error {
	regs, err := s.registers()
	if err != nil {
		return err
	}
	list, err := regs.ListRegisters(r.Context(), sess.User.CompanyID)
	if err != nil {
		return err
	}
	out := make([]registerJSON, 0, len(list))
	for _, reg := range list {
		st, err := registerState(r, regs, reg.ID)
		if err != nil {
			return err
		}
		out = append(out, toRegisterJSON(reg, st, time.UTC))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleRegisterGet is GET /v2/registers/{id}.
func (s *server) handleRegisterGet(w http.ResponseWriter, r *http.Request, sess *session) error {
	regs, reg, err := s.registerFor(r, sess)
	if err != nil {
		return err
	}
	st, err := registerState(r, regs, reg.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRegisterJSON(reg, st, time.UTC))
	return nil
}

// handleRegisterStatus is GET /v2/registers/{id}/status: the derived status
// with the last answer of every endpoint; status -1 before the first poll.
func (s *server) handleRegisterStatus(w http.ResponseWriter, r *http.Request, sess *session) error {
	regs, reg, err := s.registerFor(r, sess)
	if err != nil {
		return err
	}
	st, err := registerState(r, regs, reg.ID)
	if err != nil {
		return err
	}
	if st == nil {
		st = &store.RegisterState{RegisterID: reg.ID, Status: -1}
	}
	writeJSON(w, http.StatusOK, toRegisterStatus(*st, time.UTC))
	return nil
}

// handleRegisterCreate is POST /v2/registers (admin or senior operator).
func (s *server) handleRegisterCreate(w http.ResponseWriter, r *http.Request, sess *session) error {
	if err := requireRole(sess, RoleAdmin, RoleSeniorOperator); err != nil {
		return err
	}
	regs, err := s.registers()
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	reg := store.Register{CompanyID: sess.User.CompanyID, Enabled: true, CreatedAt: now, UpdatedAt: now}
	if err := applyRegister(p, &reg, true); err != nil {
		return err
	}
	if err := regs.CreateRegister(r.Context(), &reg); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errField("name", "The name has already been taken.")
		}
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"res": true, "resource": map[string]int64{"id": reg.ID}})
	return nil
}

// handleRegisterUpdate is PUT /v2/registers/{id}: a partial update.
func (s *server) handleRegisterUpdate(w http.ResponseWriter, r *http.Request, sess *session) error {
	if err := requireRole(sess, RoleAdmin, RoleSeniorOperator); err != nil {
		return err
	}
	regs, reg, err := s.registerFor(r, sess)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	if err := applyRegister(p, &reg, false); err != nil {
		return err
	}
	reg.UpdatedAt = s.cfg.Now()
	if err := regs.UpdateRegister(r.Context(), reg); err != nil {
		switch {
		case errors.Is(err, store.ErrConflict):
			return errField("name", "The name has already been taken.")
		case errors.Is(err, store.ErrNotFound):
			return errNotFound(msgRegisterNotFound)
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"res": true})
	return nil
}

// handleRegisterDelete is DELETE /v2/registers/{id}.
func (s *server) handleRegisterDelete(w http.ResponseWriter, r *http.Request, sess *session) error {
	if err := requireRole(sess, RoleAdmin, RoleSeniorOperator); err != nil {
		return err
	}
	regs, reg, err := s.registerFor(r, sess)
	if err != nil {
		return err
	}
	if err := regs.DeleteRegister(r.Context(), reg.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound(msgRegisterNotFound)
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"res": true})
	return nil
}

// applyRegister validates the register fields of p onto reg. The address is
// base_url ("http://IP:PORT", optionally with a path prefix) or ip and port.
func applyRegister(p *params, reg *store.Register, create bool) error {
	v := newValidator(p)
	name := v.str("name")
	station := v.str("station_id")
	location := v.str("location")
	base := v.str("base_url")
	ip := v.str("ip")
	port := v.integer("port")
	enabled := v.boolean("enabled")
	poll := v.integer("poll_interval")
	v.maxLen("name", name, maxRegisterName)
	v.maxLen("station_id", station, maxRegisterStation)
	v.maxLen("location", location, maxRegisterLocation)
	v.maxLen("base_url", base, maxRegisterURL)
	v.between("port", port, 1, 65535)
	v.between("poll_interval", poll, 1, maxPollInterval)
	if create || name.Set {
		if name.Set && !name.Null && strings.TrimSpace(name.V) == "" {
			name.Null = true
		}
		v.required("name", name.Set, name.Null)
	}
	if enabled.Set && enabled.Null {
		v.add("enabled", "The enabled field must be true or false.")
	}
	// The address.
	newURL := ""
	switch {
	case base.Set && !base.Null:
		if !v.failed("base_url") {
			if err := checkBaseURL(base.V); err != nil {
				v.add("base_url", "The base url must be an http URL such as http://10.0.0.5:8080.")
			}
			newURL = strings.TrimRight(base.V, "/")
		}
	case ip.Set || port.Set:
		if !ip.Set || ip.Null || net.ParseIP(strings.TrimSpace(ip.V)) == nil {
			v.add("ip", "The ip must be a valid IP address.")
		}
		if !port.Set || port.Null {
			v.required("port", false, false)
		}
		if !v.failed("ip") && !v.failed("port") {
			newURL = "http://" + net.JoinHostPort(strings.TrimSpace(ip.V), strconv.FormatInt(port.V, 10))
		}
	case create || base.Set:
		v.add("base_url", "The base url field is required when ip and port are not present.")
	}
	if err := v.err(); err != nil {
		return err
	}
	if name.Set {
		reg.Name = strings.TrimSpace(name.V)
	}
	if station.Set {
		reg.StationID = strings.TrimSpace(station.V)
	}
	if location.Set {
		reg.Location = location.V
	}
	if newURL != "" {
		reg.BaseURL = newURL
	}
	if enabled.Set {
		reg.Enabled = enabled.V
	}
	if poll.Set {
		reg.PollInterval = time.Duration(poll.V) * time.Second
		if poll.Null {
			reg.PollInterval = 0
		}
	}
	return nil
}

func checkBaseURL(s string) error {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("bad url")
	}
	return nil
}
