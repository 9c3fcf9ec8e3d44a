package api

import (
	"encoding/json"
	"net/http"
	"time"

	"vendgate/gateway/internal/store"
)

// crtJSON is one cloud-register receipt (spec "Чеки из облачной ККТ"): input
// is what was sent to the register, output the fiscal data it returned, aux
// the extra meta data; created_at in the spec's "2019-12-20 09:54:57+00".
type crtJSON struct {
	ID        int64           `json:"id"`
	VMID      int64           `json:"vm_id"`
	CreatedAt string          `json:"created_at"`
	Input     json.RawMessage `json:"input"`
	Output    json.RawMessage `json:"output"`
	Aux       json.RawMessage `json:"aux"`
}

// crtTimeLayout is the receipts' created_at format.
const crtTimeLayout = "2006-01-02 15:04:05-07"

// handleCRT is GET /v2/stats/crt{?vm_id,since,until}: submitted sale receipts.
func (s *server) handleCRT(w http.ResponseWriter, r *http.Request, sess *session) error {
	return s.listReceipts(w, r, sess, store.ReceiptSale)
}

// handleCRTCorrection is GET /v2/stats/crt/correction{?vm_id,since,until}:
// submitted correction receipts.
func (s *server) handleCRTCorrection(w http.ResponseWriter, r *http.Request, sess *session) error {
	return s.listReceipts(w, r, sess, store.ReceiptCorrection)
}

// listReceipts lists the submitted receipts of kind: of one machine, or of
// every visible one; default the current (UTC) day, at most 31 days.
func (s *server) listReceipts(w http.ResponseWriter, r *http.Request, sess *session, kind string) error {
	rc, err := s.receiptsStore()
	if err != nil {
		return err
	}
	vmID, err := s.optMachine(r, sess)
	if err != nil {
		return err
	}
	since, until, err := reportRange(r, time.UTC, s.cfg.Now(), listLimits)
	if err != nil {
		return err
	}
	list, err := rc.ListReceipts(r.Context(), store.ReceiptFilter{CompanyID: sess.User.CompanyID, VMID: vmID,
		Kind: kind, State: store.ReceiptSubmitted, Since: since, Until: until})
	if err != nil {
		return err
	}
	var see map[int64]store.Machine
	if vmID == 0 && !seesCompany(sess.User) {
		if see, err = s.visibleMachines(r, sess); err != nil {
			return err
		}
	}
	out := make([]crtJSON, 0, len(list))
	for _, rc := range list {
		if see != nil {
			if _, ok := see[rc.VMID]; !ok {
				continue
			}
		}
		aux := rc.Aux
		if len(aux) == 0 || !json.Valid(aux) {
			aux = json.RawMessage("[]")
		}
		out = append(out, crtJSON{ID: rc.ID, VMID: rc.VMID, CreatedAt: rc.CreatedAt.UTC().Format(crtTimeLayout),
			Input: rawOrNull(rc.Input), Output: rawOrNull(rc.Output), Aux: aux})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
