// Package fiscal registers sales with a cloud cash register (облачная ККТ) for
// machines with is_crt_active, as Russian law (54-ФЗ) asks of vending sales.
//
// Layer: driver/service. A vend of such a machine becomes a Receipt queued
// durably in the store (store.Receipts: pending → submitted | failed);
// Worker.Run submits due receipts to a Provider and retries failures with
// exponential backoff. GET /v2/stats/crt (Telemetron API v2 "Чеки из облачной
// ККТ") shows the submitted receipts: "input" is the Receipt, "output" the
// Fiscal data the register returned, "aux" the extra meta data.
//
// Wiring (for the gateway's composition root): after the ingest writer has
// stored a vend uplink, call
//
//	fiscal.EnqueueForVend(ctx, db, machine, vend, fiscal.SaleInfo{...}, now)
//
// with the machine the modem is bound to; it is a no-op unless the machine has
// IsCRTActive and the vend is a successful paid sale. Run one Worker per
// gateway: fiscal.NewWorker(db, provider, fiscal.WorkerConfig{}).Run(ctx).
package fiscal
