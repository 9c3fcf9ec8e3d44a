package api

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"time"

	"vendgate/gateway/internal/store"
)

const msgVMNotFound = "Vending machine not found"

// lastDatesJSON is the spec's last_event_dates object and the /timestamp body;
// an unknown time is null.
type lastDatesJSON struct {
	LastSale           *string `json:"last_sale"`
	LastService        *string `json:"last_service"`
	LastCollection     *string `json:"last_collection"`
	LastLoading        *string `json:"last_loading"`
	LastReport         *string `json:"last_report"`
	LastAcquiredReport *string `json:"last_acquired_report"`
}

func lastDates(m store.Machine, loc *time.Location) lastDatesJSON {
	return lastDatesJSON{
		LastSale: fmtTime(m.LastSale, loc), LastService: fmtTime(lastService(&m), loc),
		LastCollection: fmtTime(m.LastCollection, loc), LastLoading: fmtTime(m.LastLoading, loc),
		LastReport: fmtTime(m.LastReport, loc), LastAcquiredReport: fmtTime(m.LastAcquiredReport, loc),
	}
}

// lastService is last_event_dates.last_service, "время последнего
// обслуживания ТА" (spec "Время событий"): the newest of the machine's own
// record of its last service (EVA-DTS EA6 of its newest audit that has one),
// its last collection (last_collection) and its last loading or inventory
// (last_loading). Each is an operator at the machine, and machines that keep
// no EA6 are serviced all the same; the spec's example puts the service
// right after the collection of the same visit.
func lastService(m *store.Machine) time.Time {
	t := m.LastService
	if m.LastCollection.After(t) {
		t = m.LastCollection
	}
	if m.LastLoading.After(t) {
		t = m.LastLoading
	}
	return t
}

// vmTypeJSON is the spec's VendingMachineType {id, label, name}.
type vmTypeJSON struct {
	ID    int64  `json:"id"`
	Label string `json:"label"`
	Name  string `json:"name"`
}

// vmExtra is what a machine response shows beyond the machine's own row: its
// service summary and its model's type (nil: none).
type vmExtra struct {
	Service  *store.MachineService
	Type     *store.VMType
	Location *store.Location // the machine's location, nil when it has none
}

// vmJSON is a machine in GET /v2/vending_machines (spec "Полный список ТА").
type vmJSON struct {
	ID              int64         `json:"id"`
	SerialNumber    *string       `json:"serial_number"`
	Name            string        `json:"name"`
	PlanogramID     *int64        `json:"planogram_id"`
	State           int           `json:"state"`
	Service         any           `json:"service"`
	Location        any           `json:"location"`
	Type            *vmTypeJSON   `json:"type"`
	IMEI            any           `json:"imei"`
	IsCRTActive     bool          `json:"is_crt_active"`
	InventoryNumber *string       `json:"inventory_number"`
	TrackBusVends   bool          `json:"track_bus_vends"`
	MMID            *int64        `json:"mm_id"`
	TZID            *int64        `json:"tz_id"`
	TZ              *string       `json:"tz"`
	LastEventDates  lastDatesJSON `json:"last_event_dates"`
}

// vmDetailJSON is GET /v2/vending_machines/{id}: the list fields plus the modem
// and the settings only the detail shows.
type vmDetailJSON struct {
	vmJSON
	Modem       *vmModemJSON `json:"modem"`
	RequisiteID *int64       `json:"requisite_id"`
	MinPrice    *int64       `json:"min_price"`
	MaxPrice    *int64       `json:"max_price"`
	Money       *moneyJSON   `json:"money"`
}

// vmModemJSON is the detail's modem object. bus is "exe", "mdb" or null.
type vmModemJSON struct {
	ID        int64   `json:"id"`
	IMEI      string  `json:"imei"`
	Bus       *string `json:"bus"`
	SWVersion *string `json:"sw_version"`
	HWVersion *string `json:"hw_version"`
}

// imeiValue renders the list's "imei" the way the spec's example does, as a
// JSON number, when that is exact: digits only, no leading zero, at most 15
// digits (below 2^53, so JavaScript clients read it unchanged). Any other IMEI
// stays a string rather than lose digits; no modem is null.
func imeiValue(imei string) any {
	if imei == "" {
		return nil
	}
	if len(imei) > 15 || imei[0] == '0' {
		return imei
	}
	for i := 0; i < len(imei); i++ {
		if imei[i] < '0' || imei[i] > '9' {
			return imei
		}
	}
	return json.Number(imei)
}

// machineLoc is the zone to render the machine's times in: its own with local=1
// (UTC when it has none or an unknown one), UTC otherwise.
func (s *server) machineLoc(m store.Machine, local bool) *time.Location {
	if !local {
		return time.UTC
	}
	if loc := s.location(m.TZ); loc != nil {
		return loc
	}
	return time.UTC
}

func (s *server) toVMJSON(m store.Machine, modem *store.Modem, x vmExtra, local bool, now time.Time) vmJSON {
	loc := s.machineLoc(m, local)
	out := vmJSON{
		ID: m.ID, SerialNumber: nullStr(m.SerialNumber), Name: m.Name, PlanogramID: m.PlanogramID,
		State:       s.cfg.Presence.MachineState(modem, now),
		Service:     machineService(s.serviceConfig(), &m, x.Service, now).value(),
		IsCRTActive: m.IsCRTActive, InventoryNumber: nullStr(m.InventoryNumber), TrackBusVends: m.TrackBusVends,
		MMID: m.ModelID, TZID: m.TZID, TZ: nullStr(m.TZ), LastEventDates: lastDates(m, loc),
	}
	if l := x.Location; l != nil {
		out.Location = vmLocationJSON{ID: l.ID, Name: l.Name, Address: nullStr(l.Address)}
	}
	if x.Type != nil {
		out.Type = &vmTypeJSON{ID: x.Type.ID, Label: x.Type.Label, Name: x.Type.Name}
	}
	if modem != nil {
		out.IMEI = imeiValue(modem.IMEI)
	}
	return out
}

func (s *server) toVMDetail(m store.Machine, modem *store.Modem, x vmExtra, local bool, now time.Time) vmDetailJSON {
	out := vmDetailJSON{
		vmJSON:      s.toVMJSON(m, modem, x, local, now),
		RequisiteID: m.RequisiteID, MinPrice: m.MinPrice, MaxPrice: m.MaxPrice,
		Money: moneyOf(x.Service),
	}
	if modem != nil {
		mj := &vmModemJSON{ID: modem.ID, IMEI: modem.IMEI, SWVersion: nullStr(modem.Firmware), HWVersion: nullStr(modem.HWVersion)}
		if modem.Bus == "exe" || modem.Bus == "mdb" {
			mj.Bus = nullStr(modem.Bus)
		}
		out.Modem = mj
	}
	return out
}

// machineFor loads a machine the caller may see (canSeeMachine: the company's,
// and for an operator only those of their groups); anything else is a 404, so
// an invisible machine is indistinguishable from a missing one.
func (s *server) machineFor(r *http.Request, sess *session) (store.Machine, error) {
	id, err := pathID(r, "id", msgVMNotFound)
	if err != nil {
		return store.Machine{}, err
	}
	m, err := s.cfg.Store.GetMachine(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.canSeeMachine(r.Context(), sess.User, m)) {
		return store.Machine{}, errNotFound(msgVMNotFound)
	}
	return m, err
}

// machineModem returns the machine's modem, nil when it has none.
func (s *server) machineModem(r *http.Request, m store.Machine) (*store.Modem, error) {
	if m.ModemID == nil {
		return nil, nil
	}
	modem, err := s.cfg.Store.GetModem(r.Context(), *m.ModemID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &modem, nil
}

func (s *server) handleVMGet(w http.ResponseWriter, r *http.Request, sess *session) error {
	local, err := queryBool(r, "local")
	if err != nil {
		return err
	}
	// Derive the summaries of changed machines before reading the machine:
	// its last_service / last_collection come with them.
	if err := s.syncService(r.Context()); err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	modem, err := s.machineModem(r, m)
	if err != nil {
		return err
	}
	x, err := s.machineExtra(r.Context(), m)
	if err != nil {
		return err
	}
	out := s.toVMDetail(m, modem, x, local, s.cfg.Now())
	// The location costs a query of its own, so only the detail shows it.
	out.Location = s.locationValue(r.Context(), m)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) handleVMTimestamp(w http.ResponseWriter, r *http.Request, sess *session) error {
	local, err := queryBool(r, "local")
	if err != nil {
		return err
	}
	if err := s.syncService(r.Context()); err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, lastDates(m, s.machineLoc(m, local)))
	return nil
}

// Field limits of machines.
const maxNameLen = 255

// applyMachine validates the machine fields present in p and writes them into m
// (spec "Создание ТА" / "Изменение ТА"). It returns force. On create, name is
// required; on update, only the fields present change and null clears a
// nullable field.
func (s *server) applyMachine(r *http.Request, sess *session, p *params, m *store.Machine, create bool) (bool, error) {
	v := newValidator(p)

	name := v.str("name")
	if create || name.Set {
		v.required("name", name.Set && name.V != "", name.Null)
	}
	v.maxLen("name", name, maxNameLen)
	if name.Set && !name.Null {
		m.Name = name.V
	}

	strField := func(field string, dst *string) {
		sv := v.str(field)
		v.maxLen(field, sv, maxNameLen)
		if sv.Set && !v.failed(field) {
			*dst = sv.V // null clears
		}
	}
	strField("serial_number", &m.SerialNumber)
	strField("inventory_number", &m.InventoryNumber)

	idField := func(field string, dst **int64, lo int64) {
		n := v.integer(field)
		v.between(field, n, lo, math.MaxInt64)
		if !n.Set || v.failed(field) {
			return
		}
		if n.Null {
			*dst = nil
			return
		}
		val := n.V
		*dst = &val
	}
	idField("planogram_id", &m.PlanogramID, 1)
	idField("location_id", &m.LocationID, 1)
	// TODO(vm_models): mm_id is required by the spec; accepted absent until the
	// model reference list exists.
	idField("mm_id", &m.ModelID, 1)
	idField("tz_id", &m.TZID, 1)
	idField("requisite_id", &m.RequisiteID, 1)
	idField("min_price", &m.MinPrice, 0)
	idField("max_price", &m.MaxPrice, 0)
	if m.MinPrice != nil && m.MaxPrice != nil && *m.MinPrice > *m.MaxPrice && !v.failed("min_price") && !v.failed("max_price") {
		v.add("max_price", "The max price must be greater than or equal to min price.")
	}

	boolField := func(field string, dst *bool) {
		b := v.boolean(field)
		if b.Set && !v.failed(field) {
			*dst = b.V // null is false
		}
	}
	boolField("is_crt_active", &m.IsCRTActive)
	boolField("track_bus_vends", &m.TrackBusVends)

	tz := v.str("tz")
	if tz.Set && !v.failed("tz") {
		if tz.Null || tz.V == "" {
			m.TZ = ""
		} else if _, err := loadLocation(tz.V); err != nil {
			v.add("tz", "The tz must be a valid zone.")
		} else {
			m.TZ = tz.V
		}
	}

	force := v.boolean("force")
	if pv, ok := p.get("force"); ok && !pv.isJSON() && pv.text == "" {
		force.V = true // a bare "?force" asks for it, like local
	}
	if err := s.applyModem(r, sess, v, m); err != nil {
		return false, err
	}
	if err := v.err(); err != nil {
		return false, err
	}
	return force.V, nil
}

// applyModem resolves modem_id or imei (the spec accepts either) to a modem of
// the caller's company. null unbinds the modem.
func (s *server) applyModem(r *http.Request, sess *session, v *validator, m *store.Machine) error {
	mid, imei := v.integer("modem_id"), v.str("imei")
	if v.failed("modem_id") || v.failed("imei") {
		return nil
	}
	ctx := r.Context()
	var byID, byIMEI *store.Modem
	if mid.Set && !mid.Null {
		modem, err := s.cfg.Store.GetModem(ctx, mid.V)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && modem.CompanyID != sess.User.CompanyID):
			v.add("modem_id", "The selected modem id is invalid.")
			return nil
		case err != nil:
			return err
		}
		byID = &modem
	}
	if imei.Set && !imei.Null && imei.V != "" {
		modem, err := s.cfg.Store.GetModemByIMEI(ctx, imei.V)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && modem.CompanyID != sess.User.CompanyID):
			v.add("imei", "The selected imei is invalid.")
			return nil
		case err != nil:
			return err
		}
		byIMEI = &modem
	}
	switch {
	case byID != nil && byIMEI != nil && byID.ID != byIMEI.ID:
		v.add("imei", "The imei does not belong to the modem id.")
	case byID != nil:
		m.ModemID = &byID.ID
	case byIMEI != nil:
		m.ModemID = &byIMEI.ID
	case (mid.Set && mid.Null) || (imei.Set && (imei.Null || imei.V == "")):
		m.ModemID = nil
	}
	return nil
}

// bindErr maps the store's modem-binding refusal to the 422 on the field used.
func bindErr(p *params, err error) error {
	if errors.Is(err, store.ErrModemBound) {
		field := "modem_id"
		if !p.has("modem_id") && p.has("imei") {
			field = "imei"
		}
		return errField(field, "The modem is bound to another vending machine; pass force=1 to move it.")
	}
	return err
}

// handleVMCreate is POST /v2/vending_machines{?force} → 201 {"res":true,"resource":{"id":N}}.
func (s *server) handleVMCreate(w http.ResponseWriter, r *http.Request, sess *session) error {
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	m := store.Machine{CompanyID: sess.User.CompanyID, CreatedAt: s.cfg.Now()}
	force, err := s.applyMachine(r, sess, p, &m, true)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.CreateMachine(r.Context(), &m, force); err != nil {
		return bindErr(p, err)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"res": true, "resource": map[string]int64{"id": m.ID}})
	return nil
}

// handleVMUpdate is PUT /v2/vending_machines/{id}{?force}: a partial update.
func (s *server) handleVMUpdate(w http.ResponseWriter, r *http.Request, sess *session) error {
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	force, err := s.applyMachine(r, sess, p, &m, false)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.UpdateMachine(r.Context(), m, force); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound(msgVMNotFound)
		}
		return bindErr(p, err)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"res": true})
	return nil
}
