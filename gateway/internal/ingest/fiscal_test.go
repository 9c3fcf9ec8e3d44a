package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/api"
	"vendgate/gateway/internal/auth"
	"vendgate/gateway/internal/broker"
	"vendgate/gateway/internal/fiscal"
	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
	"vendgate/protocol"
)

type nopCounter struct{}

func (nopCounter) Message(class, outcome string) {}
func (nopCounter) Rejected(class, reason string) {}
func (nopCounter) Connection(event string)       {}
func (nopCounter) Ingested(int, []time.Duration) {}

type nopCommands struct{}

func (nopCommands) ModemReady(int64, string)                {}
func (nopCommands) ModemGone(int64)                         {}
func (nopCommands) ResultStored(int64, store.CommandResult) {}

type noCommander struct{}

func (noCommander) Submit(context.Context, api.CommandRequest) (store.Command, bool, error) {
	return store.Command{}, false, fmt.Errorf("no commands in this test")
}

// fiscalEnv is a gateway's ingest path on a real store: a CRT machine with a
// location and a planogram, a machine without the cloud register, and the
// handler with Fiscal.
type fiscalEnv struct {
	db         *sqlite.DB
	h          *Handler
	crt, plain broker.Conn
	crtVM      store.Machine
}

func newFiscalEnv(t *testing.T) *fiscalEnv {
	t.Helper()
	ctx := context.Background()
	db, mid := openDB(t)
	other := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: "356938035643817", PasswordHash: "x", CreatedAt: t0}
	require.NoError(t, db.CreateModem(ctx, other))

	loc := store.Location{CompanyID: store.DefaultCompanyID, Name: "ТЦ", Address: "Мира пр 24б"}
	require.NoError(t, db.CreateLocation(ctx, &loc))
	vat := 20.0
	prod := store.Product{CompanyID: store.DefaultCompanyID, Name: "Ореховый Мока", VAT: &vat, InventoryNumber: "ABC-0123"}
	require.NoError(t, db.CreateProduct(ctx, &prod))
	plano := store.Planogram{CompanyID: store.DefaultCompanyID, Name: "P", Mode: "snack",
		Layout: []store.LayoutItem{{ProductID: prod.ID, Number: "7"}}}
	require.NoError(t, db.CreatePlanogram(ctx, &plano, 0, 0, t0))

	crt := store.Machine{CompanyID: store.DefaultCompanyID, Name: "crt", ModemID: &mid, IsCRTActive: true, SerialNumber: "000111",
		InventoryNumber: "B42", LocationID: &loc.ID, PlanogramID: &plano.ID, CreatedAt: t0}
	require.NoError(t, db.CreateMachine(ctx, &crt, false))
	plain := store.Machine{CompanyID: store.DefaultCompanyID, Name: "plain", ModemID: &other.ID, CreatedAt: t0}
	require.NoError(t, db.CreateMachine(ctx, &plain, false))

	w := NewWriter(db, WriterConfig{})
	go w.Run()
	t.Cleanup(w.Close)
	h := &Handler{W: w, Store: db, Commands: nopCommands{}, Count: nopCounter{},
		Fiscal: &Fiscal{Receipts: db, Machines: db, Catalog: db, Now: func() time.Time { return t0 }}}
	return &fiscalEnv{db: db, h: h, crtVM: crt,
		crt:   broker.Conn{ModemID: mid, IMEI: "356938035643809", At: t0},
		plain: broker.Conn{ModemID: other.ID, IMEI: other.IMEI, At: t0}}
}

// vend publishes a vend as the modem does (the broker's synchronous path).
func (e *fiscalEnv) vend(t *testing.T, c broker.Conn, id, sel string, price int64, pay protocol.Payment, typ protocol.VendType, ok bool) {
	t.Helper()
	payload, err := protocol.Encode(protocol.Vend{Header: protocol.Header{V: 1, ID: id, TS: t0.UnixMilli()},
		Selection: sel, Price: price, Payment: pay, Type: typ, OK: ok, Time: t0.UnixMilli()})
	require.NoError(t, err)
	require.NoError(t, e.h.Publish(c, protocol.TopicFor(c.IMEI, protocol.ClassVend), payload, 1, false))
}

func (e *fiscalEnv) receipts(t *testing.T, state store.ReceiptState) []store.Receipt {
	t.Helper()
	rs, err := e.db.ListReceipts(context.Background(), store.ReceiptFilter{CompanyID: store.DefaultCompanyID,
		Kind: store.ReceiptSale, State: state, Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour)})
	require.NoError(t, err)
	return rs
}

func TestFiscalReceiptOfPaidVends(t *testing.T) {
	e := newFiscalEnv(t)
	// Only a successful paid vend of the CRT machine gets a receipt; a
	// redelivered vend does not get a second one.
	e.vend(t, e.crt, "v1", "07", 4500, protocol.PayCashless, protocol.VendPaid, true)
	e.vend(t, e.crt, "v1", "07", 4500, protocol.PayCashless, protocol.VendPaid, true)
	e.vend(t, e.crt, "v2", "7", 4500, protocol.PayCash, protocol.VendPaid, false)
	e.vend(t, e.crt, "v3", "7", 0, protocol.PayCash, protocol.VendFree, true)
	e.vend(t, e.plain, "v4", "7", 4500, protocol.PayCash, protocol.VendPaid, true)
	e.vend(t, e.crt, "v5", "9", 1000, protocol.PayCash, protocol.VendPaid, true) // not in the planogram
	pending := e.receipts(t, store.ReceiptPending)
	require.Len(t, pending, 2)

	var in fiscal.Receipt
	require.NoError(t, json.Unmarshal(pending[0].Input, &in))
	require.Equal(t, "000111", in.Terminal)
	require.Equal(t, "ТЦ", in.Place, "place and address from the machine's location")
	require.Equal(t, "Мира пр 24б", in.Address)
	require.Equal(t, []fiscal.Position{{Qty: 1, VAT: fiscal.VAT20, Name: "Ореховый Мока", Price: 4500}}, in.Positions,
		"name and VAT of the planogram's product of selection 07")
	require.Equal(t, []fiscal.PaymentLine{{Type: fiscal.PayElectronic, Amount: 4500}}, in.Payments)
	require.JSONEq(t, `{"vm_inventory_number":"B42","product_inventory_number":"ABC-0123"}`, string(pending[0].Aux))
	require.NoError(t, json.Unmarshal(pending[1].Input, &in))
	require.Equal(t, "Товар 9", in.Positions[0].Name, "a selection the planogram lacks: the default name")
	require.Equal(t, fiscal.VATNone, in.Positions[0].VAT)

	// The emulated register submits them; they are listed by the API.
	w := fiscal.NewWorker(e.db, &fiscal.Emulated{Now: func() time.Time { return t0 }},
		fiscal.WorkerConfig{Now: func() time.Time { return t0 }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	n, err := w.Drain(context.Background())
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Len(t, e.receipts(t, store.ReceiptSubmitted), 2)

	h, err := api.New(api.Config{Store: e.db, Commands: noCommander{}, Now: func() time.Time { return t0.Add(time.Minute) },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	tok := adminToken(t, e.db)
	req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/v2/stats/crt?vm_id=%d", e.crtVM.ID), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var list []struct {
		VMID   int64           `json:"vm_id"`
		Input  fiscal.Receipt  `json:"input"`
		Output fiscal.Fiscal   `json:"output"`
		Aux    json.RawMessage `json:"aux"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
	require.Len(t, list, 2)
	require.Equal(t, e.crtVM.ID, list[0].VMID)
	require.Equal(t, "Ореховый Мока", list[0].Input.Positions[0].Name)
	require.NotEmpty(t, list[0].Output.FP, "fiscalised by the emulated register")
}

func TestFiscalOffWithoutConfig(t *testing.T) {
	e := newFiscalEnv(t)
	e.h.Fiscal = nil
	e.vend(t, e.crt, "v1", "7", 4500, protocol.PayCash, protocol.VendPaid, true)
	require.Empty(t, e.receipts(t, store.ReceiptPending))
}

func TestSameSelectionAndVAT(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{{"7", "07", true}, {"a1", "A1", true}, {"0", "00", true}, {"A01", "A1", false}, {"7", "8", false}, {" 12 ", "12", true}} {
		require.Equalf(t, c.same, sameSelection(c.a, c.b), "%q %q", c.a, c.b)
	}
	f := func(v float64) *float64 { return &v }
	require.Equal(t, fiscal.VAT20, vatCode(f(20)))
	require.Equal(t, fiscal.VAT10, vatCode(f(10)))
	require.Equal(t, fiscal.VAT0, vatCode(f(0)))
	require.Equal(t, fiscal.VATNone, vatCode(f(12.5)))
	require.Equal(t, fiscal.VATNone, vatCode(nil))
}

// adminToken makes an admin of the default company and an access token.
func adminToken(t *testing.T, db *sqlite.DB) string {
	t.Helper()
	ctx := context.Background()
	u := store.User{CompanyID: store.DefaultCompanyID, Email: "a@example.com", PasswordHash: "x", Role: api.RoleAdmin, Active: true, CreatedAt: t0}
	require.NoError(t, db.CreateUser(ctx, &u))
	tok, hash, err := auth.NewToken()
	require.NoError(t, err)
	_, rh, err := auth.NewToken()
	require.NoError(t, err)
	require.NoError(t, db.CreateToken(ctx, &store.Token{UserID: u.ID, AccessHash: hash, RefreshHash: rh, Scope: "teleport",
		AccessExpires: t0.Add(time.Hour), RefreshExpires: t0.Add(time.Hour), CreatedAt: t0}))
	return tok
}
