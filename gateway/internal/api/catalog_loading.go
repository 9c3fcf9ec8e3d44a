package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"vendgate/gateway/internal/store"
)

// loadingJSON is an element of GET .../loading; layout_number only for products.
type loadingJSON struct {
	ComponentID  int64  `json:"component_id"`
	Value        int64  `json:"value"`
	LayoutNumber string `json:"layout_number,omitempty"`
}

// normSelection matches selection numbers loosely: trimmed, upper case, leading
// zeros of numeric ones dropped (the engine matches vends the same way).
func normSelection(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if _, err := strconv.ParseUint(s, 10, 64); err == nil {
		if t := strings.TrimLeft(s, "0"); t != "" {
			return t
		}
		return "0"
	}
	return s
}

// machinePlan is what loading needs from a machine's planogram.
type machinePlan struct {
	plano    *store.Planogram
	comps    map[int64]store.Component
	products map[int64]store.Product
	// slots maps a product component to the planogram numbers holding it.
	slots map[int64][]string
}

func (s *server) machinePlan(ctx context.Context, c store.Catalog, m store.Machine) (*machinePlan, error) {
	mp := &machinePlan{comps: map[int64]store.Component{}, products: map[int64]store.Product{}, slots: map[int64][]string{}}
	cs, err := c.ListComponents(ctx, m.CompanyID)
	if err != nil {
		return nil, err
	}
	for _, x := range cs {
		mp.comps[x.ID] = x
	}
	if m.PlanogramID == nil {
		return mp, nil
	}
	p, err := c.GetPlanogram(ctx, *m.PlanogramID)
	if errors.Is(err, store.ErrNotFound) {
		return mp, nil
	}
	if err != nil {
		return nil, err
	}
	mp.plano = &p
	ps, err := c.ListProducts(ctx, m.CompanyID)
	if err != nil {
		return nil, err
	}
	for _, x := range ps {
		mp.products[x.ID] = x
	}
	for _, l := range p.Layout {
		for _, rc := range mp.products[l.ProductID].Components {
			if mp.comps[rc.ComponentID].IsProduct {
				mp.slots[rc.ComponentID] = append(mp.slots[rc.ComponentID], l.Number)
			}
		}
	}
	return mp, nil
}

// handleLoadingGet is GET /v2/vending_machines/{id}/loading: the current level
// of every component of the machine's planogram (0 when never loaded) and of
// anything else still loaded.
func (s *server) handleLoadingGet(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	ctx := r.Context()
	cur, err := c.CurrentLoading(ctx, m.ID)
	if err != nil {
		return err
	}
	mp, err := s.machinePlan(ctx, c, m)
	if err != nil {
		return err
	}
	type key struct {
		comp   int64
		layout string
	}
	vals := map[key]int64{}
	for _, e := range cur {
		vals[key{e.ComponentID, e.Layout}] = e.Value
	}
	if mp.plano != nil {
		for _, l := range mp.plano.Layout {
			for _, rc := range mp.products[l.ProductID].Components {
				k := key{rc.ComponentID, ""}
				if mp.comps[rc.ComponentID].IsProduct {
					k.layout = l.Number
				}
				vals[k] += 0
			}
		}
		for _, ci := range mp.plano.Capacity {
			if !mp.comps[ci.ComponentID].IsProduct {
				vals[key{ci.ComponentID, ""}] += 0
			}
		}
	}
	out := make([]loadingJSON, 0, len(vals))
	for k, v := range vals {
		out = append(out, loadingJSON{k.comp, v, k.layout})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ComponentID != out[j].ComponentID {
			return out[i].ComponentID < out[j].ComponentID
		}
		return out[i].LayoutNumber < out[j].LayoutNumber
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// loadingRequest is a validated loading or inventory body.
type loadingRequest struct {
	op      store.LoadingOp
	allZero bool
}

// readLoading validates a loading (amount field "add") or inventory ("loaded")
// body against the machine's components and planogram.
func (s *server) readLoading(r *http.Request, w http.ResponseWriter, c store.Catalog, m store.Machine, kind string) (*loadingRequest, error) {
	p, err := readParams(w, r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	amountField := "add"
	if kind == store.LoadInventory {
		amountField = "loaded"
	}
	v := newValidator(p)
	note := v.str("note")
	v.maxLen("note", note, maxNoteLen)
	var createdAt time.Time
	ca := v.str("created_at")
	if ca.Set && !ca.Null && ca.V != "" {
		t, err := parseTime(ca.V, s.machineLoc(m, true))
		switch {
		case err != nil:
			v.add("created_at", "The created at is not a valid date.")
		case t.After(s.cfg.Now()):
			v.add("created_at", "The created at must be a date before or equal to now.")
		default:
			createdAt = t
		}
	}
	elems, _ := objects(v, "data")
	if !v.failed("data") && len(elems) == 0 {
		if err := v.err(); err != nil {
			return nil, err
		}
		return nil, errStatus(http.StatusBadRequest, SubLoadNoData, "Not enough data")
	}
	mp, err := s.machinePlan(ctx, c, m)
	if err != nil {
		return nil, err
	}
	req := &loadingRequest{op: store.LoadingOp{Kind: kind, Note: note.V, CreatedAt: createdAt}, allZero: true}
	for i, e := range elems {
		if e == nil {
			continue
		}
		pre := "data." + strconv.Itoa(i) + "."
		sv := v.sub(e)
		cid := sv.integer(pre + "component_id")
		sv.required(pre+"component_id", cid.Set, cid.Null)
		amt := sv.integer(pre + amountField)
		sv.required(pre+amountField, amt.Set, amt.Null)
		if kind == store.LoadInventory {
			sv.between(pre+amountField, amt, 0, math.MaxInt32)
		} else {
			sv.between(pre+amountField, amt, -math.MaxInt32, math.MaxInt32)
		}
		layout := sv.str(pre + "layout_number")
		sv.maxLen(pre+"layout_number", layout, 32)
		comp, known := mp.comps[cid.V]
		if cid.Set && !cid.Null && !sv.failed(pre+"component_id") && !known {
			sv.add(pre+"component_id", "The selected "+attr(pre+"component_id")+" is invalid.")
		}
		if !known || sv.failed(pre+amountField) || sv.failed(pre+"layout_number") {
			continue
		}
		item := store.LoadingItem{ComponentID: comp.ID, Amount: amt.V}
		if comp.IsProduct {
			item.Layout = strings.TrimSpace(layout.V)
			if mp.plano != nil {
				slots := mp.slots[comp.ID]
				switch {
				case item.Layout == "" && len(slots) == 1:
					item.Layout = slots[0]
				case item.Layout == "":
					sv.add(pre+"layout_number", "The "+attr(pre+"layout_number")+" field is required.")
				default:
					found := false
					for _, n := range slots {
						if normSelection(n) == normSelection(item.Layout) {
							item.Layout, found = n, true
							break
						}
					}
					if !found {
						sv.add(pre+"layout_number", "The selected "+attr(pre+"layout_number")+" is invalid.")
					}
				}
			}
		} // ingredients: layout_number is ignored (spec "Инвентаризация")
		if amt.V != 0 {
			req.allZero = false
		}
		req.op.Items = append(req.op.Items, item)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	req.op.Digest = loadingDigest(m.ID, req.op)
	return req, nil
}

// loadingDigest identifies an operation by its content: the machine, kind,
// lines (sorted), note and time given. A client resending the same request gets
// the same digest, which ApplyLoading refuses as a duplicate.
func loadingDigest(vmID int64, op store.LoadingOp) string {
	lines := make([]string, len(op.Items))
	for i, it := range op.Items {
		lines[i] = fmt.Sprintf("%d\x1f%q\x1f%d", it.ComponentID, it.Layout, it.Amount)
	}
	sort.Strings(lines)
	h := sha256.New()
	fmt.Fprintf(h, "%d\x1e%s\x1e%q\x1e", vmID, op.Kind, op.Note)
	if !op.CreatedAt.IsZero() {
		fmt.Fprintf(h, "%d", op.CreatedAt.UnixMilli())
	}
	for _, l := range lines {
		fmt.Fprintf(h, "\x1e%s", l)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func errDuplicate() error {
	return errStatus(http.StatusBadRequest, SubLoadDuplicate, "Duplicate")
}

// handleLoadingPost is POST /v2/vending_machines/{id}/loading: deltas → 201 {"digest"}.
func (s *server) handleLoadingPost(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	req, err := s.readLoading(r, w, c, m, store.LoadAdd)
	if err != nil {
		return err
	}
	if req.allZero {
		return errStatus(http.StatusBadRequest, SubLoadNoLoad, "Not enough data (no load)")
	}
	req.op.UserID = sess.User.ID
	if _, _, err := c.ApplyLoading(r.Context(), m.ID, req.op, s.cfg.Now()); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return errDuplicate()
		}
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"digest": req.op.Digest})
	return nil
}

// handleInventory is POST /v2/vending_machines/{id}/inventory: counted levels →
// 201 when they differ from the gateway's, 200 when nothing changed.
func (s *server) handleInventory(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	req, err := s.readLoading(r, w, c, m, store.LoadInventory)
	if err != nil {
		return err
	}
	req.op.UserID = sess.User.ID
	_, changed, err := c.ApplyLoading(r.Context(), m.ID, req.op, s.cfg.Now())
	if errors.Is(err, store.ErrDuplicate) {
		return errDuplicate()
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if changed {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"res": true, "digest": req.op.Digest})
	return nil
}

type loadingTxItemJSON struct {
	Component    string `json:"component"`
	Delta        int64  `json:"delta"`
	Orig         int64  `json:"orig"`
	Underflow    bool   `json:"underflow,omitempty"`
	LayoutNumber string `json:"layout_number,omitempty"`
}

type loadingTxJSON struct {
	ID        int64               `json:"id"`
	VMID      int64               `json:"vm_id"`
	CreatedAt string              `json:"created_at"`
	UserID    *int64              `json:"user_id"`
	Data      []loadingTxItemJSON `json:"data"`
}

// handleLoadingTx is GET /v2/vending_machines/{id}/loading_tx{?since,until,local}:
// the machine's loading history. Without since the history starts at the
// beginning; without until it ends now. created_at is "2020-08-26 13:47:24" as
// in the spec's example, in the machine's zone with local=1 and UTC otherwise.
func (s *server) handleLoadingTx(w http.ResponseWriter, r *http.Request, sess *session) error {
	c, err := s.catalog()
	if err != nil {
		return err
	}
	local, err := queryBool(r, "local")
	if err != nil {
		return err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return err
	}
	loc := s.machineLoc(m, local)
	q := r.URL.Query()
	var since, until time.Time
	if v := q.Get("since"); v != "" {
		if since, err = parseTime(v, loc); err != nil {
			return errBadRequest("The since parameter is not a valid time (expected e.g. 2018-01-01 00:00:00+03).")
		}
	}
	until = s.cfg.Now()
	if v := q.Get("until"); v != "" {
		if until, err = parseTime(v, loc); err != nil {
			return errBadRequest("The until parameter is not a valid time (expected e.g. 2018-01-07 00:00:00+03).")
		}
	}
	if until.Before(since) {
		return errStatus(http.StatusBadRequest, SubPeriodReversed, "The until time must not be before since.")
	}
	txs, err := c.ListLoadingTx(r.Context(), m.ID, since, until)
	if err != nil {
		return err
	}
	out := make([]loadingTxJSON, len(txs))
	for i, t := range txs {
		j := loadingTxJSON{ID: t.ID, VMID: t.VMID, CreatedAt: t.CreatedAt.In(loc).Format(modemTimeLayout),
			Data: make([]loadingTxItemJSON, len(t.Items))}
		if t.UserID != 0 {
			uid := t.UserID
			j.UserID = &uid
		}
		for k, it := range t.Items {
			j.Data[k] = loadingTxItemJSON{it.Component, it.Delta, it.Orig, it.Underflow, it.Layout}
		}
		out[i] = j
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
