package api

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"vendgate/gateway/internal/store"
)

type capacityJSON struct {
	ComponentID int64  `json:"component_id"`
	Capacity    int64  `json:"capacity"`
	Critical    *int64 `json:"critical"`
}

type planoProductJSON struct {
	ID         int64            `json:"id"`
	Components []recipeItemJSON `json:"components"`
}

type layoutJSON struct {
	ProductID int64  `json:"product_id"`
	Number    string `json:"number"`
	Price     *int64 `json:"price"`
}

// planogramJSON is a planogram; the detail fields are left out of the plain list.
type planogramJSON struct {
	ID       int64              `json:"id"`
	Name     string             `json:"name"`
	Capacity []capacityJSON     `json:"capacity,omitempty"`
	Products []planoProductJSON `json:"products,omitempty"`
	Layout   []layoutJSON       `json:"layout,omitempty"`
}

// planogramDetail is the full form: the arrays are always present.
type planogramDetail struct {
	ID       int64              `json:"id"`
	Name     string             `json:"name"`
	Capacity []capacityJSON     `json:"capacity"`
	Products []planoProductJSON `json:"products"`
	Layout   []layoutJSON       `json:"layout"`
}

// toPlanogramDetail renders p with the recipes of its products (the distinct
// products of its layout, in layout order).
func toPlanogramDetail(p store.Planogram, products map[int64]store.Product) planogramDetail {
	out := planogramDetail{ID: p.ID, Name: p.Name, Capacity: make([]capacityJSON, len(p.Capacity)),
		Products: []planoProductJSON{}, Layout: make([]layoutJSON, len(p.Layout))}
	for i, c := range p.Capacity {
		out.Capacity[i] = capacityJSON{c.ComponentID, c.Capacity, c.Critical}
	}
	seen := map[int64]bool{}
	for i, l := range p.Layout {
		out.Layout[i] = layoutJSON{l.ProductID, l.Number, l.Price}
		if !seen[l.ProductID] {
			seen[l.ProductID] = true
			out.Products = append(out.Products, planoProductJSON{l.ProductID, toRecipeJSON(products[l.ProductID].Components)})
		}
	}
	return out
}

func (s *server) productMap(r *http.Request, c store.Catalog, company int64) (map[int64]store.Product, error) {
	ps, err := c.ListProducts(r.Context(), company)
	if err != nil {
		return nil, err
	}
	m := make(map[int64]store.Product, len(ps))
	for _, p := range ps {
		m[p.ID] = p
	}
	return m, nil
}

// handlePlanogramList is GET /v2/planograms{?full}.
func (s *server) handlePlanogramList(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	full, err := queryBool(r, "full")
	if err != nil {
		return err
	}
	ps, err := c.ListPlanograms(r.Context(), sess.User.CompanyID, full)
	if err != nil {
		return err
	}
	if !full {
		out := make([]planogramJSON, len(ps))
		for i, p := range ps {
			out[i] = planogramJSON{ID: p.ID, Name: p.Name}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	products, err := s.productMap(r, c, sess.User.CompanyID)
	if err != nil {
		return err
	}
	out := make([]planogramDetail, len(ps))
	for i, p := range ps {
		out[i] = toPlanogramDetail(p, products)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// planogramFor loads a planogram of the caller's company; anything else is a 404.
func (s *server) planogramFor(r *http.Request, sess *session, c store.Catalog) (store.Planogram, error) {
	return ownedByPath(r, sess, msgPlanogramNotFound, c.GetPlanogram, planogramCompany)
}

// handlePlanogramGet is GET /v2/planograms/{id}.
func (s *server) handlePlanogramGet(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	p, err := s.planogramFor(r, sess, c)
	if err != nil {
		return err
	}
	products, err := s.productMap(r, c, sess.User.CompanyID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toPlanogramDetail(p, products))
	return nil
}

// maxPrice is the spec's price bound ("Цена, от 0 до 999999").
const maxPrice = 999999

// selNumber reads a selection number given as a string or a JSON number (the
// spec's example sends both: "number": 2 and "number": "4A").
func selNumber(v *validator, field string) string {
	pv, ok := v.p.get(field)
	if ok && pv.isJSON() {
		var n json.Number
		if json.Unmarshal(pv.raw, &n) == nil {
			if _, err := strconv.ParseUint(n.String(), 10, 32); err == nil {
				return n.String()
			}
			v.add(field, "The "+attr(field)+" must be a string.")
			return ""
		}
	}
	s := v.str(field)
	v.required(field, s.Set && strings.TrimSpace(s.V) != "", s.Null)
	v.maxLen(field, s, 32)
	return strings.TrimSpace(s.V)
}

// handlePlanogramCreate is POST /v2/planograms {name, mode, assign, products}.
// Capacity comes from the products' entries: a simple product's component gets
// the sum of its selections' capacities (and criticals); a recipe ingredient
// used by several entries gets the largest given.
func (s *server) handlePlanogramCreate(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	v := newValidator(p)
	name := requiredName(v, "name")
	mode := v.str("mode")
	v.required("mode", mode.Set && mode.V != "", mode.Null)
	if mode.Set && !mode.Null && mode.V != "" && mode.V != "snack" && mode.V != "basic" {
		v.add("mode", "The selected mode is invalid.")
	}
	assign := v.integer("assign")
	var assignVM int64
	if assign.Set && !assign.Null && !v.failed("assign") {
		m, err := s.cfg.Store.GetMachine(ctx, assign.V)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && !s.canSeeMachine(ctx, sess.User, m)):
			v.add("assign", "The selected assign is invalid.")
		case err != nil:
			return err
		default:
			assignVM = m.ID
		}
	}
	products, err := s.productMap(r, c, sess.User.CompanyID)
	if err != nil {
		return err
	}
	comps, err := c.ListComponents(ctx, sess.User.CompanyID)
	if err != nil {
		return err
	}
	isProduct := make(map[int64]bool, len(comps))
	for _, x := range comps {
		isProduct[x.ID] = x.IsProduct
	}

	plano := store.Planogram{CompanyID: sess.User.CompanyID, Name: name.V, Mode: mode.V}
	capIdx := map[int64]int{}
	numbers := map[string]bool{}
	elems, _ := objects(v, "products")
	for i, e := range elems {
		if e == nil {
			continue
		}
		pre := "products." + strconv.Itoa(i) + "."
		sv := v.sub(e)
		id := sv.integer(pre + "id")
		sv.required(pre+"id", id.Set, id.Null)
		num := selNumber(sv, pre+"number")
		capa := sv.integer(pre + "capacity")
		sv.required(pre+"capacity", capa.Set, capa.Null)
		sv.between(pre+"capacity", capa, 0, math.MaxInt32)
		crit := sv.integer(pre + "critical")
		sv.between(pre+"critical", crit, 0, math.MaxInt32)
		price := sv.integer(pre + "price")
		sv.between(pre+"price", price, 0, maxPrice)
		prod, ok := products[id.V]
		if id.Set && !id.Null && !sv.failed(pre+"id") && !ok {
			sv.add(pre+"id", "The selected "+attr(pre+"id")+" is invalid.")
		}
		if num != "" && numbers[strings.ToUpper(num)] {
			sv.add(pre+"number", "The "+attr(pre+"number")+" field has a duplicate value.")
		}
		numbers[strings.ToUpper(num)] = true
		if len(v.errs) > 0 {
			continue // the planogram will not be written: skip the arithmetic
		}
		item := store.LayoutItem{ProductID: prod.ID, Number: num}
		if price.Set && !price.Null {
			item.Price = &price.V
		}
		plano.Layout = append(plano.Layout, item)
		for _, rc := range prod.Components {
			k, seen := capIdx[rc.ComponentID]
			if !seen {
				plano.Capacity = append(plano.Capacity, store.CapacityItem{ComponentID: rc.ComponentID})
				k = len(plano.Capacity) - 1
				capIdx[rc.ComponentID] = k
			}
			ci := &plano.Capacity[k]
			var critV *int64
			if crit.Set && !crit.Null {
				critV = &crit.V
			}
			if isProduct[rc.ComponentID] {
				ci.Capacity += capa.V
				if critV != nil {
					sum := *critV
					if ci.Critical != nil {
						sum += *ci.Critical
					}
					ci.Critical = &sum
				}
			} else {
				ci.Capacity = max(ci.Capacity, capa.V)
				if critV != nil && (ci.Critical == nil || *critV > *ci.Critical) {
					cv := *critV
					ci.Critical = &cv
				}
			}
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	if err := c.CreatePlanogram(ctx, &plano, assignVM, sess.User.ID, s.cfg.Now()); err != nil {
		return nameTaken(err)
	}
	created(w, plano.ID)
	return nil
}

// handlePlanogramDelete is DELETE /v2/planograms/{id}: machines using it are
// unloaded (history records) and left without a planogram.
func (s *server) handlePlanogramDelete(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	p, err := s.planogramFor(r, sess, c)
	if err != nil {
		return err
	}
	if err := c.DeletePlanogram(r.Context(), p.ID, sess.User.ID, s.cfg.Now()); err != nil {
		return err
	}
	okRes(w)
	return nil
}
