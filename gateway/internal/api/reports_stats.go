package api

import (
	"net/http"
	"time"

	"vendgate/gateway/internal/store"
)

// Codes of vend types and payments in the statistics (the spec's examples show
// vend_type 3 and payment_type 1 for paid cash sales; payment types follow the
// receipts' "1 наличными, 2 электронными"): vend_type 1 free, 2 test, 3 paid;
// payment_type 1 cash, 2 cashless, 3 token, 0 none or mixed.
var (
	vendTypeCodes    = map[string]int{"free": 1, "test": 2, "paid": 3}
	paymentTypeCodes = map[string]int{"cash": 1, "cashless": 2, "token": 3}
)

// summaryJSON is /stats/vends/summary: number of sales and their value (minor units).
type summaryJSON struct {
	Number int64 `json:"number"`
	Value  int64 `json:"value"`
}

// paymentSummaryJSON is one group of /stats/vends/payments/summary: the spec
// shows quantity and amount; vend_type and payment_type say which group it is.
type paymentSummaryJSON struct {
	Quantity    int64 `json:"quantity"`
	Amount      int64 `json:"amount"`
	VendType    int   `json:"vend_type"`
	PaymentType int   `json:"payment_type"`
}

// vendProductJSON is one row of .../stats/vends/products and .../payments.
type vendProductJSON struct {
	Time         *string `json:"time"`
	LayoutNumber string  `json:"layout_number"`
	Name         string  `json:"name"`
	VendType     int     `json:"vend_type"`
	Price        int64   `json:"price"`
	Number       int64   `json:"number"`
	Value        int64   `json:"value"`
	Discount     int64   `json:"discount"`
	PaymentType  int     `json:"payment_type"`
}

// fleetGroups sums the caller's visible machines' successful vends by type and
// payment. Admins and senior operators use the company-wide roll-up; an
// operator's groups are summed machine by machine.
func (s *server) fleetGroups(r *http.Request, sess *session, rep store.Reports, f store.VendFilter) ([]store.VendGroup, error) {
	ctx := r.Context()
	f.CompanyID = sess.User.CompanyID
	if seesCompany(sess.User) {
		return rep.VendPaymentSummary(ctx, f)
	}
	ms, err := s.visibleMachines(r, sess)
	if err != nil {
		return nil, err
	}
	sum := map[[2]string]store.VendTotal{}
	var keys [][2]string
	for id := range ms {
		f.VMID = id
		gs, err := rep.VendPaymentSummary(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			k := [2]string{g.Type, g.Payment}
			t, seen := sum[k]
			if !seen {
				keys = append(keys, k)
			}
			t.Count += g.Count
			t.Value += g.Value
			sum[k] = t
		}
	}
	out := make([]store.VendGroup, 0, len(keys))
	for _, k := range keys {
		out = append(out, store.VendGroup{Type: k[0], Payment: k[1], VendTotal: sum[k]})
	}
	return out, nil
}

// fleetRange reads the fleet endpoints' range. There is no single machine zone
// for "local", so times without an offset and the default day are in UTC.
func (s *server) fleetRange(r *http.Request) (time.Time, time.Time, error) {
	if _, err := queryBool(r, "local"); err != nil {
		return time.Time{}, time.Time{}, err
	}
	return reportRange(r, time.UTC, s.cfg.Now(), fleetLimits)
}

// handleStatsSummary is GET /v2/stats/vends/summary: paid sales of all visible
// machines, at most 7 days.
func (s *server) handleStatsSummary(w http.ResponseWriter, r *http.Request, sess *session) error {
	rep, err := s.reportsStore()
	if err != nil {
		return err
	}
	since, until, err := s.fleetRange(r)
	if err != nil {
		return err
	}
	gs, err := s.fleetGroups(r, sess, rep, store.VendFilter{Since: since, Until: until, Type: "paid"})
	if err != nil {
		return err
	}
	var out summaryJSON
	for _, g := range gs {
		out.Number += g.Count
		out.Value += g.Value
	}
	writeJSON(w, http.StatusOK, []summaryJSON{out})
	return nil
}

// handleStatsPaymentSummary is GET /v2/stats/vends/payments/summary: vends of
// all visible machines grouped by vend type and payment, at most 7 days.
func (s *server) handleStatsPaymentSummary(w http.ResponseWriter, r *http.Request, sess *session) error {
	rep, err := s.reportsStore()
	if err != nil {
		return err
	}
	since, until, err := s.fleetRange(r)
	if err != nil {
		return err
	}
	gs, err := s.fleetGroups(r, sess, rep, store.VendFilter{Since: since, Until: until})
	if err != nil {
		return err
	}
	out := make([]paymentSummaryJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, paymentSummaryJSON{Quantity: g.Count, Amount: g.Value,
			VendType: vendTypeCodes[g.Type], PaymentType: paymentTypeCodes[g.Payment]})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// vmStatsRequest reads a machine statistics request: the machine, its range
// (31 days, two months deep) in its zone with local=1.
func (s *server) vmStatsRequest(r *http.Request, sess *session) (store.Reports, store.Machine, store.VendFilter, *time.Location, error) {
	var f store.VendFilter
	local, err := queryBool(r, "local")
	if err != nil {
		return nil, store.Machine{}, f, nil, err
	}
	m, err := s.machineFor(r, sess)
	if err != nil {
		return nil, m, f, nil, err
	}
	rep, err := s.reportsStore()
	if err != nil {
		return nil, m, f, nil, err
	}
	loc := s.machineLoc(m, local)
	since, until, err := reportRange(r, loc, s.cfg.Now(), statsLimits)
	if err != nil {
		return nil, m, f, nil, err
	}
	return rep, m, store.VendFilter{CompanyID: m.CompanyID, VMID: m.ID, Since: since, Until: until}, loc, nil
}

// handleVMStatsSummary is GET /v2/vending_machines/{id}/stats/vends/summary.
func (s *server) handleVMStatsSummary(w http.ResponseWriter, r *http.Request, sess *session) error {
	rep, _, f, _, err := s.vmStatsRequest(r, sess)
	if err != nil {
		return err
	}
	f.Type = "paid"
	t, err := rep.VendSummary(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, []summaryJSON{{Number: t.Count, Value: t.Value}})
	return nil
}

// enumParam reads an optional enum query parameter; another value is a 422.
func enumParam(r *http.Request, name string, allowed map[string]int) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", nil
	}
	if _, ok := allowed[v]; !ok {
		return "", errField(name, "The selected "+attr(name)+" is invalid.")
	}
	return v, nil
}

// handleVMStatsProducts is GET .../stats/vends/products{?type=paid|free|test}.
func (s *server) handleVMStatsProducts(w http.ResponseWriter, r *http.Request, sess *session) error {
	typ, err := enumParam(r, "type", vendTypeCodes)
	if err != nil {
		return err
	}
	return s.vmProducts(w, r, sess, store.VendFilter{Type: typ}, false)
}

// handleVMStatsPayments is GET .../stats/vends/payments{?type=cash|cashless|token}.
func (s *server) handleVMStatsPayments(w http.ResponseWriter, r *http.Request, sess *session) error {
	pay, err := enumParam(r, "type", paymentTypeCodes)
	if err != nil {
		return err
	}
	return s.vmProducts(w, r, sess, store.VendFilter{Payment: pay}, true)
}

// vmProducts writes the product rows. name would come from the planogram; the
// selection stands in ("Товар 12") until planogram layouts are joined.
// Discounts are not reported by the modem, so discount is 0.
func (s *server) vmProducts(w http.ResponseWriter, r *http.Request, sess *session, sel store.VendFilter, byPayment bool) error {
	rep, _, f, loc, err := s.vmStatsRequest(r, sess)
	if err != nil {
		return err
	}
	f.Type, f.Payment = sel.Type, sel.Payment
	gs, err := rep.VendProducts(r.Context(), f, byPayment)
	if err != nil {
		return err
	}
	out := make([]vendProductJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, vendProductJSON{Time: fmtTime(g.Last, loc), LayoutNumber: g.Selection, Name: "Товар " + g.Selection,
			VendType: vendTypeCodes[g.Type], Price: g.Price, Number: g.Count, Value: g.Value,
			PaymentType: paymentTypeCodes[g.Payment]})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
