package api

import (
	"context"
	"errors"
	"net/http"

	"vendgate/gateway/internal/store"
)

// ownedByPath loads the record named by the path's {id} and hands it out only
// when it belongs to the caller's company. A malformed id, a missing record
// and another company's record are the same 404 (notFound), so a caller cannot
// tell whether an id exists elsewhere.
func ownedByPath[T any](r *http.Request, sess *session, notFound string,
	get func(context.Context, int64) (T, error), company func(*T) int64) (T, error) {
	var zero T
	id, err := pathID(r, "id", notFound)
	if err != nil {
		return zero, err
	}
	v, err := get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && company(&v) != sess.User.CompanyID) {
		return zero, errNotFound(notFound)
	}
	return v, err
}

func groupCompany(g *store.Group) int64         { return g.CompanyID }
func requisiteCompany(q *store.Requisite) int64 { return q.CompanyID }
func planogramCompany(p *store.Planogram) int64 { return p.CompanyID }
func productCompany(p *store.Product) int64     { return p.CompanyID }
func locationCompany(l *store.Location) int64   { return l.CompanyID }
