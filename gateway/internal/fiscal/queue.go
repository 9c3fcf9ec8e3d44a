package fiscal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"vendgate/gateway/internal/store"
)

// SaleInfo is what a receipt needs beyond the vend and the machine: the place
// of settlement from the machine's location and the product's planogram entry.
// Empty fields fall back to defaults (see EnqueueForVend).
type SaleInfo struct {
	Place, Address string
	ProductName    string // default "Товар <selection>"
	VAT            int    // default VATNone
	ProductInvNo   string // product inventory number, for aux
}

// ErrNoKey is returned for a vend with neither a message id nor an id: it could
// not be enqueued idempotently.
var ErrNoKey = errors.New("fiscal: vend has no message id or id")

// EnqueueForVend queues the receipt of vend v of machine m, once per vend
// (keyed by modem and message id). It returns false without error when no
// receipt is due: the machine has no active cloud register (IsCRTActive), or
// the vend failed, was not a paid sale or cost nothing. Cash and tokens are
// paid "наличными" (type 1), cashless "электронными" (type 2).
func EnqueueForVend(ctx context.Context, q store.Receipts, m store.Machine, v store.Vend, info SaleInfo, now time.Time) (bool, error) {
	if !m.IsCRTActive || !v.OK || v.Type != "paid" || v.Price <= 0 {
		return false, nil
	}
	var key string
	switch {
	case v.MsgID != "":
		key = fmt.Sprintf("vend/%d/%s", v.ModemID, v.MsgID)
	case v.ID != 0:
		key = fmt.Sprintf("vend-id/%d", v.ID)
	default:
		return false, ErrNoKey
	}
	pay := PayCash
	if v.Payment == "cashless" {
		pay = PayElectronic
	}
	name := info.ProductName
	if name == "" {
		name = "Товар " + v.Selection
	}
	vat := info.VAT
	if vat < VAT20 || vat > VAT10110 {
		vat = VATNone
	}
	r := Receipt{
		Place: info.Place, Digest: digest(key), Address: info.Address, Terminal: m.SerialNumber,
		Payments:  []PaymentLine{{Type: pay, Amount: Money(v.Price)}},
		Positions: []Position{{Qty: 1, VAT: vat, Name: name, Price: Money(v.Price)}},
	}
	in, err := json.Marshal(r)
	if err != nil {
		return false, fmt.Errorf("fiscal: enqueue: %w", err)
	}
	aux, err := json.Marshal(map[string]string{"vm_inventory_number": m.InventoryNumber, "product_inventory_number": info.ProductInvNo})
	if err != nil {
		return false, fmt.Errorf("fiscal: enqueue: %w", err)
	}
	created, err := q.EnqueueReceipt(ctx, &store.Receipt{Key: key, CompanyID: m.CompanyID, VMID: m.ID,
		Kind: store.ReceiptSale, Input: in, Aux: aux, CreatedAt: now, NextAt: now})
	if err != nil {
		return false, fmt.Errorf("fiscal: enqueue: %w", err)
	}
	return created, nil
}

// WorkerConfig configures a Worker; zero fields take the defaults.
type WorkerConfig struct {
	Poll        time.Duration // how often due receipts are looked for; default 1 s
	Batch       int           // receipts per poll; default 50
	Timeout     time.Duration // per submission; default 15 s
	BaseBackoff time.Duration // first retry delay, doubled per attempt; default 5 s
	MaxBackoff  time.Duration // default 10 min
	MaxAttempts int           // then the receipt fails for good; default 10
	Now         func() time.Time
	Logger      *slog.Logger
}

// Worker submits due receipts to a Provider.
type Worker struct {
	q   store.Receipts
	p   Provider
	cfg WorkerConfig
}

// NewWorker returns a Worker draining q into p.
func NewWorker(q store.Receipts, p Provider, cfg WorkerConfig) *Worker {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = 5 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Worker{q: q, p: p, cfg: cfg}
}

// Run polls for due receipts until ctx ends; it returns ctx's error.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := w.Drain(ctx); err != nil && ctx.Err() == nil {
			w.cfg.Logger.Warn("fiscal: drain", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Drain submits the receipts due now, batch by batch, and returns how many it
// handled (submitted, rescheduled or failed).
func (w *Worker) Drain(ctx context.Context) (int, error) {
	n := 0
	for {
		due, err := w.q.DueReceipts(ctx, w.cfg.Now(), w.cfg.Batch)
		if err != nil {
			return n, err
		}
		for _, r := range due {
			if err := w.one(ctx, r); err != nil {
				return n, err
			}
			n++
		}
		if len(due) < w.cfg.Batch {
			return n, nil
		}
	}
}

// backoff is the delay after the attempt-th failure (1-based).
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.BaseBackoff
	for i := 1; i < attempt && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, w.cfg.MaxBackoff)
}

func (w *Worker) one(ctx context.Context, r store.Receipt) error {
	var in Receipt
	if err := json.Unmarshal(r.Input, &in); err != nil {
		return w.q.RetryReceipt(ctx, r.ID, "undecodable input: "+err.Error(), time.Time{}, w.cfg.Now())
	}
	sctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	out, err := w.p.Submit(sctx, in)
	cancel()
	now := w.cfg.Now()
	if err == nil {
		doc, merr := json.Marshal(out)
		if merr != nil {
			return fmt.Errorf("fiscal: %w", merr)
		}
		return w.q.CompleteReceipt(ctx, r.ID, doc, now)
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the receipt stays pending as it was
	}
	attempt := r.Attempts + 1
	next := time.Time{}
	if !errors.Is(err, ErrRejected) && attempt < w.cfg.MaxAttempts {
		next = now.Add(w.backoff(attempt))
	}
	w.cfg.Logger.Warn("fiscal: submit failed", "receipt", r.ID, "attempt", attempt, "final", next.IsZero(), "err", err)
	return w.q.RetryReceipt(ctx, r.ID, err.Error(), next, now)
}
