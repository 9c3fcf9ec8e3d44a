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

type recipeItemJSON struct {
	ID     int64 `json:"id"`
	Volume int64 `json:"volume"`
}

// productJSON is an element of GET /v2/products.
type productJSON struct {
	ID              int64            `json:"id"`
	Composite       bool             `json:"composite"`
	Name            string           `json:"name"`
	Components      []recipeItemJSON `json:"components"`
	InventoryNumber *string          `json:"inventory_number"`
	VAT             *float64         `json:"vat"`
}

func toRecipeJSON(items []store.RecipeItem) []recipeItemJSON {
	out := make([]recipeItemJSON, len(items))
	for i, it := range items {
		out[i] = recipeItemJSON{it.ComponentID, it.Volume}
	}
	return out
}

// handleProductList is GET /v2/products.
func (s *server) handleProductList(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	ps, err := c.ListProducts(r.Context(), sess.User.CompanyID)
	if err != nil {
		return err
	}
	out := make([]productJSON, len(ps))
	for i, p := range ps {
		out[i] = productJSON{p.ID, p.Composite, p.Name, toRecipeJSON(p.Components), nullStr(p.InventoryNumber), p.VAT}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// productFor loads a product of the caller's company; anything else is a 404.
func (s *server) productFor(r *http.Request, sess *session, c store.Catalog) (store.Product, error) {
	return ownedByPath(r, sess, msgProductNotFound, c.GetProduct, productCompany)
}

// number reads a decimal number field (VAT "12.5"): a JSON number, a string
// holding one, or null. ok is false when absent or invalid.
func (v *validator) number(field string) (val *float64, set bool) {
	pv, ok := v.p.get(field)
	if !ok {
		return nil, false
	}
	text := pv.text
	if pv.isJSON() {
		if isJSONNull(pv.raw) {
			return nil, true
		}
		var n json.Number
		var s string
		if json.Unmarshal(pv.raw, &n) == nil {
			text = n.String()
		} else if json.Unmarshal(pv.raw, &s) == nil {
			text = s
		} else {
			text = "x"
		}
	} else if text == "" {
		return nil, true
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		v.add(field, "The "+attr(field)+" must be a number.")
		return nil, false
	}
	return &f, true
}

// productAttrs are the optional attributes shared by create and update.
type productAttrs struct {
	note, inv optStr
	vat       *float64
	vatSet    bool
}

func readProductAttrs(v *validator) productAttrs {
	var a productAttrs
	a.note = v.str("note")
	v.maxLen("note", a.note, maxNoteLen)
	a.inv = v.str("inventory_number")
	v.maxLen("inventory_number", a.inv, maxNameLen)
	a.vat, a.vatSet = v.number("vat")
	if a.vat != nil && (*a.vat < 0 || *a.vat > 100) {
		v.add("vat", "The vat must be between 0 and 100.")
	}
	return a
}

func (a productAttrs) apply(p *store.Product) {
	if a.note.Set {
		p.Note = a.note.V
	}
	if a.inv.Set {
		p.InventoryNumber = a.inv.V
	}
	if a.vatSet {
		p.VAT = a.vat
	}
}

// readRecipe reads "components" (spec: id + volume, or name + unit + volume).
// Ids must be components of the company; a component may appear once.
func (s *server) readRecipe(r *http.Request, sess *session, c store.Catalog, v *validator) ([]store.RecipeItem, bool, error) {
	elems, set := objects(v, "components")
	if !set {
		return nil, false, nil
	}
	items := make([]store.RecipeItem, 0, len(elems))
	seenID := map[int64]bool{}
	seenName := map[string]bool{}
	for i, e := range elems {
		if e == nil {
			continue
		}
		pre := "components." + strconv.Itoa(i) + "."
		sv := v.sub(e)
		id := sv.integer(pre + "id")
		name := sv.str(pre + "name")
		sv.maxLen(pre+"name", name, maxNameLen)
		vol := sv.integer(pre + "volume")
		sv.required(pre+"volume", vol.Set, vol.Null)
		sv.between(pre+"volume", vol, 0, math.MaxInt32)
		var it store.RecipeItem
		it.Volume = vol.V
		switch {
		case id.Set && !id.Null && !sv.failed(pre+"id"):
			comp, err := c.GetComponent(r.Context(), id.V)
			if errors.Is(err, store.ErrNotFound) || (err == nil && comp.CompanyID != sess.User.CompanyID) {
				sv.add(pre+"id", "The selected "+attr(pre+"id")+" is invalid.")
				continue
			}
			if err != nil {
				return nil, true, err
			}
			if seenID[comp.ID] {
				sv.add(pre+"id", "The "+attr(pre+"id")+" field has a duplicate value.")
			}
			seenID[comp.ID] = true
			it.ComponentID = comp.ID
		case sv.failed(pre + "id"):
		default:
			sv.required(pre+"name", name.Set && strings.TrimSpace(name.V) != "", name.Null)
			unit := unitField(sv, pre+"unit", true)
			it.Name, it.Unit = strings.TrimSpace(name.V), int(unit.V)
			key := it.Name + "\x00" + strconv.Itoa(it.Unit)
			if it.Name != "" && seenName[key] {
				sv.add(pre+"name", "The "+attr(pre+"name")+" field has a duplicate value.")
			}
			seenName[key] = true
		}
		items = append(items, it)
	}
	return items, true, nil
}

// handleProductCreate is POST /v2/products: a product (composite false) or a
// recipe (composite true, components required).
func (s *server) handleProductCreate(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	v := newValidator(p)
	comp := v.boolean("composite")
	v.required("composite", comp.Set, comp.Null)
	name := requiredName(v, "name")
	attrs := readProductAttrs(v)
	items, itemsSet, err := s.readRecipe(r, sess, c, v)
	if err != nil {
		return err
	}
	if comp.V && !v.failed("components") && (!itemsSet || len(items) == 0) {
		v.add("components", "The components field is required when composite is true.")
	}
	if !comp.V && itemsSet && len(items) > 0 {
		v.add("components", "The components field is prohibited when composite is false.")
	}
	if err := v.err(); err != nil {
		return err
	}
	prod := store.Product{CompanyID: sess.User.CompanyID, Name: name.V, Composite: comp.V, Components: items}
	attrs.apply(&prod)
	if err := c.CreateProduct(r.Context(), &prod); err != nil {
		return nameTaken(err)
	}
	created(w, prod.ID)
	return nil
}

// handleProductUpdate is PUT /v2/products/{id}: name, note, vat,
// inventory_number and, for recipes, a new recipe in components.
func (s *server) handleProductUpdate(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	prod, err := s.productFor(r, sess, c)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	v := newValidator(p)
	name := v.str("name")
	if name.Set {
		v.required("name", strings.TrimSpace(name.V) != "", name.Null)
	}
	v.maxLen("name", name, maxNameLen)
	attrs := readProductAttrs(v)
	items, itemsSet, err := s.readRecipe(r, sess, c, v)
	if err != nil {
		return err
	}
	if itemsSet && !prod.Composite {
		v.add("components", "The components field is prohibited when composite is false.")
	}
	if itemsSet && prod.Composite && len(items) == 0 && !v.failed("components") {
		v.add("components", "The components must have at least 1 items.")
	}
	if err := v.err(); err != nil {
		return err
	}
	if name.Set {
		prod.Name = strings.TrimSpace(name.V)
	}
	attrs.apply(&prod)
	var recipe []store.RecipeItem
	if itemsSet {
		recipe = items
	}
	if err := c.UpdateProduct(r.Context(), prod, recipe); err != nil {
		return nameTaken(err)
	}
	okRes(w)
	return nil
}

// handleProductDelete is DELETE /v2/products/{id}.
func (s *server) handleProductDelete(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	prod, err := s.productFor(r, sess, c)
	if err != nil {
		return err
	}
	if err := c.DeleteProduct(r.Context(), prod.ID); err != nil {
		return err
	}
	okRes(w)
	return nil
}

// --- recipe items: /v2/products/{id}/components ---

// handleRecipeList is GET /v2/products/{id}/components.
func (s *server) handleRecipeList(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	prod, err := s.productFor(r, sess, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRecipeJSON(prod.Components))
	return nil
}

// handleRecipeAdd is POST /v2/products/{id}/components {id, volume}.
func (s *server) handleRecipeAdd(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	prod, err := s.productFor(r, sess, c)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	v := newValidator(p)
	id := v.integer("id")
	v.required("id", id.Set, id.Null)
	vol := v.integer("volume")
	v.required("volume", vol.Set, vol.Null)
	v.between("volume", vol, 0, math.MaxInt32)
	if id.Set && !id.Null && !v.failed("id") {
		comp, err := c.GetComponent(r.Context(), id.V)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && comp.CompanyID != sess.User.CompanyID):
			v.add("id", "The selected id is invalid.")
		case err != nil:
			return err
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	if err := c.AddRecipeItem(r.Context(), prod.ID, id.V, vol.V); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errField("id", "The id has already been taken.")
		}
		return err
	}
	created(w, id.V)
	return nil
}

// recipeComponent reads {component_id} of the path; not a positive integer is a 404.
func recipeComponent(r *http.Request) (int64, error) {
	return pathID(r, "component_id", msgComponentNotFound)
}

// handleRecipeSet is PUT /v2/products/{id}/components/{component_id} {volume}.
func (s *server) handleRecipeSet(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	prod, err := s.productFor(r, sess, c)
	if err != nil {
		return err
	}
	cid, err := recipeComponent(r)
	if err != nil {
		return err
	}
	p, err := readParams(w, r)
	if err != nil {
		return err
	}
	v := newValidator(p)
	vol := v.integer("volume")
	v.required("volume", vol.Set, vol.Null)
	v.between("volume", vol, 0, math.MaxInt32)
	if err := v.err(); err != nil {
		return err
	}
	if err := c.SetRecipeItem(r.Context(), prod.ID, cid, vol.V); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound(msgComponentNotFound)
		}
		return err
	}
	okRes(w)
	return nil
}

// handleRecipeDelete is DELETE /v2/products/{id}/components/{component_id}.
func (s *server) handleRecipeDelete(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalogForEdit(sess)
	if err != nil {
		return err
	}
	prod, err := s.productFor(r, sess, c)
	if err != nil {
		return err
	}
	cid, err := recipeComponent(r)
	if err != nil {
		return err
	}
	if err := c.DeleteRecipeItem(r.Context(), prod.ID, cid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound(msgComponentNotFound)
		}
		return err
	}
	okRes(w)
	return nil
}
