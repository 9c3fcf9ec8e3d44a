package api

import (
	"errors"
	"net/http"
	"regexp"

	"vendgate/gateway/internal/store"
)

const msgRequisiteNotFound = "Requisite not found"

// requisiteJSON is an item of GET /v2/requisites (spec "Реквизиты"); provider
// is "od", "co", "ipro" or null.
type requisiteJSON struct {
	ID         int64   `json:"id"`
	Title      string  `json:"title"`
	TitleShort string  `json:"title_short"`
	AddrLegal  string  `json:"addr_legal"`
	AddrFact   string  `json:"addr_fact"`
	INN        string  `json:"inn"`
	KPP        string  `json:"kpp"`
	Provider   *string `json:"provider"`
}

func toRequisiteJSON(q store.Requisite) requisiteJSON {
	return requisiteJSON{
		ID: q.ID, Title: q.Title, TitleShort: q.TitleShort, AddrLegal: q.AddrLegal, AddrFact: q.AddrFact,
		INN: q.INN, KPP: q.KPP, Provider: nullStr(q.Provider),
	}
}

// handleRequisiteList is GET /v2/requisites: the caller's company's requisites,
// for every role (the spec restricts nothing).
func (s *server) handleRequisiteList(w http.ResponseWriter, r *http.Request, sess *session) error {
	a, err := s.accessStore()
	if err != nil {
		return err
	}
	qs, err := a.ListRequisites(r.Context(), sess.User.CompanyID)
	if err != nil {
		return err
	}
	out := make([]requisiteJSON, 0, len(qs))
	for _, q := range qs {
		out = append(out, toRequisiteJSON(q))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// requisiteFor loads a requisite of the caller's company; another company's is a 404.
func (s *server) requisiteFor(r *http.Request, sess *session, a store.Access) (store.Requisite, error) {
	return ownedByPath(r, sess, msgRequisiteNotFound, a.GetRequisite, requisiteCompany)
}

// Russian taxpayer numbers: ИНН has 10 digits (organisations) or 12
// (individuals, ИП), КПП 9 characters (digits, with letters allowed in 5-6).
var (
	innRe = regexp.MustCompile(`^([0-9]{10}|[0-9]{12})$`)
	kppRe = regexp.MustCompile(`^[0-9]{4}[0-9A-Z]{2}[0-9]{3}$`)
)

// applyRequisite validates the fields present in p into q. On create, title is
// required. null or "" clears a field; provider must be od, co, ipro or null.
func applyRequisite(p *params, q *store.Requisite, create bool) error {
	v := newValidator(p)
	title := v.str("title")
	if create || title.Set {
		v.required("title", title.Set && title.V != "", title.Null)
	}
	fields := []struct {
		name string
		dst  *string
		re   *regexp.Regexp
	}{
		{"title", &q.Title, nil},
		{"title_short", &q.TitleShort, nil},
		{"addr_legal", &q.AddrLegal, nil},
		{"addr_fact", &q.AddrFact, nil},
		{"inn", &q.INN, innRe},
		{"kpp", &q.KPP, kppRe},
	}
	for _, f := range fields {
		sv := title
		if f.name != "title" {
			sv = v.str(f.name)
		}
		v.maxLen(f.name, sv, maxNameLen)
		if sv.Set && !sv.Null && sv.V != "" && f.re != nil && !v.failed(f.name) && !f.re.MatchString(sv.V) {
			v.add(f.name, "The "+attr(f.name)+" format is invalid.")
		}
		if sv.Set && !v.failed(f.name) {
			*f.dst = sv.V
		}
	}
	prov := v.str("provider")
	if prov.Set && !v.failed("provider") {
		switch prov.V {
		case "", store.ProviderOrangeData, store.ProviderCheckOnline, store.ProviderInitPro:
			q.Provider = prov.V
		default:
			v.add("provider", "The selected provider is invalid.")
		}
	}
	return v.err()
}

// handleRequisiteCreate is POST /v2/requisites (extension, admins only) → 201
// {"res":true,"resource":{"id":N}} like the spec's other creations.
func (s *server) handleRequisiteCreate(w http.ResponseWriter, r *http.Request, sess *session) error {
	a, err := s.accessStore()
	if err != nil {
		return err
	}
	if err := requireRole(sess, RoleAdmin); err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	q := store.Requisite{CompanyID: sess.User.CompanyID, CreatedAt: s.cfg.Now()}
	if err := applyRequisite(p, &q, true); err != nil {
		return err
	}
	if err := a.CreateRequisite(r.Context(), &q); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"res": true, "resource": map[string]int64{"id": q.ID}})
	return nil
}

// handleRequisiteUpdate is PUT /v2/requisites/{id} (extension, admins only): a
// partial update.
func (s *server) handleRequisiteUpdate(w http.ResponseWriter, r *http.Request, sess *session) error {
	a, err := s.accessStore()
	if err != nil {
		return err
	}
	if err := requireRole(sess, RoleAdmin); err != nil {
		return err
	}
	q, err := s.requisiteFor(r, sess, a)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	if err := applyRequisite(p, &q, false); err != nil {
		return err
	}
	if err := a.UpdateRequisite(r.Context(), q); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound(msgRequisiteNotFound)
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"res": true})
	return nil
}

// handleRequisiteDelete is DELETE /v2/requisites/{id} (extension, admins only).
func (s *server) handleRequisiteDelete(w http.ResponseWriter, r *http.Request, sess *session) error {
	a, err := s.accessStore()
	if err != nil {
		return err
	}
	if err := requireRole(sess, RoleAdmin); err != nil {
		return err
	}
	q, err := s.requisiteFor(r, sess, a)
	if err != nil {
		return err
	}
	if err := a.DeleteRequisite(r.Context(), q.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound(msgRequisiteNotFound)
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"res": true})
	return nil
}
