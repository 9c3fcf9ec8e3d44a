package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"vendgate/gateway/internal/store"
)

// Catalogue messages and subcodes.
const (
	SubNotImplemented = "E501"  // the store engine has no catalogue
	SubLoadDuplicate  = "L102"  // loading/inventory: same digest as the machine's last operation
	SubLoadNoData     = "L103"  // loading/inventory: no data lines
	SubLoadNoLoad     = "L104"  // loading: every line adds 0
	SubInUse          = "E4091" // location assigned to a machine, force not given

	msgLocationNotFound  = "Location not found"
	msgProductNotFound   = "Product not found"
	msgPlanogramNotFound = "Planogram not found"
	msgComponentNotFound = "Component not found"
	msgNameTaken         = "The name has already been taken."
)

// catalog returns the store's catalogue, or a 501 when the engine has none.
func (s *server) catalog() (store.Catalog, error) {
	c, ok := s.cfg.Store.(store.Catalog)
	if !ok {
		return nil, errStatus(http.StatusNotImplemented, SubNotImplemented, "The catalogue is not supported by this store")
	}
	return c, nil
}

// canEditCatalog is the role rule for catalogue changes: admins and senior
// operators; operators read the catalogue and do loadings.
func canEditCatalog(sess *session) error {
	return requireRole(sess, RoleAdmin, RoleSeniorOperator)
}

// catalogForEdit is the opening of every catalogue change: the role rule
// first (403), then the store's catalogue (501 when it has none).
func (s *server) catalogForEdit(sess *session) (store.Catalog, error) {
	if err := canEditCatalog(sess); err != nil {
		return nil, err
	}
	return s.catalog()
}

// created writes the spec's 201 {"res": true, "resource": {"id": N}}.
func created(w http.ResponseWriter, id int64) {
	writeJSON(w, http.StatusCreated, map[string]any{"res": true, "resource": map[string]int64{"id": id}})
}

func okRes(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]bool{"res": true})
}

// nameTaken maps a store conflict to the spec's 422 on name.
func nameTaken(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return errField("name", msgNameTaken)
	}
	return err
}

// --- reference lists ---

type eventCodeJSON struct {
	Code string `json:"code"`
	Name string `json:"name"`
	Desc string `json:"desc"`
}

// handleEventCodes is GET /v2/event_codes.
func (s *server) handleEventCodes(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	codes, err := c.ListEventCodes(r.Context())
	if err != nil {
		return err
	}
	out := make([]eventCodeJSON, len(codes))
	for i, e := range codes {
		out[i] = eventCodeJSON{e.Code, e.Name, e.Desc}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type vmModelJSON struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// handleVMModels is GET /v2/vm_models.
func (s *server) handleVMModels(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	ms, err := c.ListVMModels(r.Context())
	if err != nil {
		return err
	}
	out := make([]vmModelJSON, len(ms))
	for i, m := range ms {
		out[i] = vmModelJSON{m.ID, m.Name}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type timezoneJSON struct {
	TZID      int64  `json:"tz_id"`
	TZ        string `json:"tz"`
	UTCOffset string `json:"utc_offset"`
}

// utcOffset renders the zone's offset at t as "+04:00".
func utcOffset(loc *time.Location, t time.Time) string {
	return t.In(loc).Format("-07:00")
}

// handleTimezones is GET /v2/timezones. utc_offset is the zone's offset now,
// so it follows daylight saving time.
func (s *server) handleTimezones(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	zs, err := c.ListTimezones(r.Context())
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	out := make([]timezoneJSON, 0, len(zs))
	for _, z := range zs {
		loc := s.location(z.Name)
		if loc == nil {
			continue // a name this system's zone database lacks cannot be offered
		}
		out = append(out, timezoneJSON{z.ID, z.Name, utcOffset(loc, now)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// --- components ---

type componentJSON struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	IsProduct bool   `json:"is_product"`
	Units     string `json:"units"`
}

// handleComponentList is GET /v2/components.
func (s *server) handleComponentList(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	cs, err := c.ListComponents(r.Context(), sess.User.CompanyID)
	if err != nil {
		return err
	}
	out := make([]componentJSON, len(cs))
	for i, x := range cs {
		out[i] = componentJSON{x.ID, x.Name, x.IsProduct, store.UnitName(x.Unit)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// unitField reads a unit (enum 1, 2, 3).
func unitField(v *validator, field string, required bool) optInt {
	u := v.integer(field)
	if required {
		v.required(field, u.Set, u.Null)
	}
	if u.Set && !u.Null && !v.failed(field) && store.UnitName(int(u.V)) == "" {
		v.add(field, "The selected "+attr(field)+" is invalid.")
	}
	return u
}

// requiredName reads a required, non-empty name of at most maxNameLen characters.
func requiredName(v *validator, field string) optStr {
	n := v.str(field)
	v.required(field, n.Set && strings.TrimSpace(n.V) != "", n.Null)
	v.maxLen(field, n, maxNameLen)
	n.V = strings.TrimSpace(n.V)
	return n
}

// handleComponentCreate is POST /v2/components {name, unit}.
func (s *server) handleComponentCreate(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	v := newValidator(p)
	name := requiredName(v, "name")
	unit := unitField(v, "unit", true)
	if err := v.err(); err != nil {
		return err
	}
	comp := store.Component{CompanyID: sess.User.CompanyID, Name: name.V, Unit: int(unit.V)}
	if err := c.CreateComponent(r.Context(), &comp); err != nil {
		return nameTaken(err)
	}
	created(w, comp.ID)
	return nil
}

// --- locations ---

type locationJSON struct {
	ID      int64   `json:"id"`
	Name    string  `json:"name"`
	Address string  `json:"address"`
	Note    *string `json:"note"`
}

// handleLocationList is GET /v2/locations.
func (s *server) handleLocationList(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	ls, err := c.ListLocations(r.Context(), sess.User.CompanyID)
	if err != nil {
		return err
	}
	out := make([]locationJSON, len(ls))
	for i, l := range ls {
		out[i] = locationJSON{l.ID, l.Name, l.Address, nullStr(l.Note)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// maxNoteLen bounds notes and addresses.
const maxNoteLen = 1000

// applyLocation validates name/address/note into l; on create name and address
// are required.
func applyLocation(p *params, l *store.Location, create bool) error {
	v := newValidator(p)
	name := v.str("name")
	if create || name.Set {
		v.required("name", name.Set && strings.TrimSpace(name.V) != "", name.Null)
	}
	v.maxLen("name", name, maxNameLen)
	addr := v.str("address")
	if create {
		v.required("address", addr.Set && strings.TrimSpace(addr.V) != "", addr.Null)
	}
	v.maxLen("address", addr, maxNoteLen)
	note := v.str("note")
	v.maxLen("note", note, maxNoteLen)
	if err := v.err(); err != nil {
		return err
	}
	if name.Set {
		l.Name = strings.TrimSpace(name.V)
	}
	if addr.Set {
		l.Address = addr.V
	}
	if note.Set {
		l.Note = note.V
	}
	return nil
}

// handleLocationCreate is POST /v2/locations {name, address, note}.
func (s *server) handleLocationCreate(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	l := store.Location{CompanyID: sess.User.CompanyID}
	if err := applyLocation(p, &l, true); err != nil {
		return err
	}
	if err := c.CreateLocation(r.Context(), &l); err != nil {
		return nameTaken(err)
	}
	created(w, l.ID)
	return nil
}

// locationFor loads a location of the caller's company; anything else is a 404.
func (s *server) locationFor(r *http.Request, sess *session, c store.Catalog) (store.Location, error) {
	return ownedByPath(r, sess, msgLocationNotFound, c.GetLocation, locationCompany)
}

// handleLocationUpdate is PUT /v2/locations/{id}: a partial update.
func (s *server) handleLocationUpdate(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	l, err := s.locationFor(r, sess, c)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	if err := applyLocation(p, &l, false); err != nil {
		return err
	}
	if err := c.UpdateLocation(r.Context(), l); err != nil {
		return nameTaken(err)
	}
	okRes(w)
	return nil
}

// handleLocationDelete is DELETE /v2/locations/{id}{?force}: 409 while a machine
// has the location, unless force.
func (s *server) handleLocationDelete(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	l, err := s.locationFor(r, sess, c)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	v := newValidator(p)
	force := v.boolean("force")
	if pv, ok := p.get("force"); ok && !pv.isJSON() && pv.text == "" {
		force.V = true // a bare "?force"
	}
	if err := v.err(); err != nil {
		return err
	}
	if err := c.DeleteLocation(r.Context(), l.ID, force.V); err != nil {
		if errors.Is(err, store.ErrInUse) {
			return errStatus(http.StatusConflict, SubInUse, "The location is assigned to a vending machine; pass force=1 to delete it anyway.")
		}
		return err
	}
	okRes(w)
	return nil
}

// --- JSON arrays of objects in bodies ---

// objects reads field as a JSON array of objects. Each element comes back as
// params whose keys are prefixed "field.N." so that a validator over them names
// fields the Laravel way ("data.0.loaded"). An element that is not an object is
// reported and comes back nil. ok is false when the field is absent or null.
func objects(v *validator, field string) (elems []*params, ok bool) {
	pv, set := v.p.get(field)
	if !set || (pv.isJSON() && isJSONNull(pv.raw)) {
		return nil, false
	}
	var raws []json.RawMessage
	if !pv.isJSON() || json.Unmarshal(pv.raw, &raws) != nil {
		v.add(field, "The "+attr(field)+" must be an array.")
		return nil, true
	}
	elems = make([]*params, 0, len(raws))
	for i, raw := range raws {
		prefix := field + "." + strconv.Itoa(i)
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			v.add(prefix, "The "+attr(prefix)+" must be an object.")
			elems = append(elems, nil) // reported; callers skip it
			continue
		}
		body := make(map[string]json.RawMessage, len(obj))
		for k, val := range obj {
			body[prefix+"."+k] = val
		}
		elems = append(elems, &params{body: body})
	}
	return elems, true
}

// sub is a validator over an element of objects sharing v's messages.
func (v *validator) sub(p *params) *validator {
	if v.errs == nil {
		v.errs = make(map[string][]string)
	}
	return &validator{p: p, errs: v.errs}
}
