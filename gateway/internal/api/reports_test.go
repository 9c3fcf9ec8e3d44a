package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/dex/evadts"
	"vendgate/gateway/internal/fiscal"
	"vendgate/gateway/internal/store"
	"vendgate/internal/cp1251"
)

// repFixture is a machine with a bound modem in company 1 and one in company 2.
type repFixture struct {
	e             *env
	modem, omodem store.Modem
	vm, ovm       store.Machine
	seq           int
}

func newRepFixture(t *testing.T) *repFixture {
	e := newEnv(t)
	f := &repFixture{e: e}
	f.modem = e.modem("861000000000001", 1)
	f.vm = e.machine("VM", 1, f.modem.ID, "Europe/Moscow")
	f.omodem = e.modem("861000000000002", otherCompany)
	f.ovm = e.machine("Other", otherCompany, f.omodem.ID, "")
	return f
}

func (f *repFixture) msg() string {
	f.seq++
	return fmt.Sprintf("m%d", f.seq)
}

func (f *repFixture) audit(modemID int64, at time.Time, port int, valid bool, data []byte) {
	f.e.t.Helper()
	a := &store.Audit{MsgID: f.msg(), Port: port, Time: at, Received: at.Add(time.Second), Data: data, Valid: valid}
	require.NoError(f.e.t, f.e.st.ApplyUplinks(context.Background(), []store.Uplink{
		{Kind: store.UpAudit, ModemID: modemID, Received: at, Audit: a}}))
}

func (f *repFixture) vend(modemID int64, at time.Time, sel string, price int64, pay, typ string, ok bool) {
	f.e.t.Helper()
	require.NoError(f.e.t, f.e.st.ApplyUplinks(context.Background(), []store.Uplink{{Kind: store.UpVend,
		ModemID: modemID, Received: at, Vend: &store.Vend{MsgID: f.msg(), Selection: sel, Price: price,
			Payment: pay, Type: typ, OK: ok, Time: at}}}))
}

// evaText encodes an audit with the given EA301 and cash values.
func evaText(t *testing.T, readsReset, toBox, bills, filled int64, counters ...evadts.EventCounter) []byte {
	t.Helper()
	r := evadts.NewReport("NRI0000001")
	r.Machine.Serial = "Кофе-1"
	r.Cash.In = &evadts.CashIn{InReset: toBox + bills, ToBoxReset: toBox, BillsReset: bills}
	r.Cash.Filled = &evadts.CashFilled{Reset: filled}
	r.Cash.Tubes = []evadts.CoinTube{{CoinType: "0", Value: 100, InTube: 7}, {CoinType: "1", Value: 500, InTube: 2}}
	r.Events.Counters = counters
	r.Events.Reads = &evadts.ReadInfo{ReadsWithReset: readsReset, ReadsTotal: readsReset + 5}
	var b bytes.Buffer
	require.NoError(t, evadts.Encode(&b, r))
	return b.Bytes()
}

func q(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return path + "?" + v.Encode()
}

func TestReportsList(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	text := []byte("DXS*NRI C2*VA*V1/1*1\r\nID1*Кофе\r\n")
	f.audit(f.modem.ID, t0.Add(-2*time.Hour), 1, true, text)
	f.audit(f.modem.ID, t0.Add(-time.Hour), 2, false, []byte("second"))
	f.audit(f.omodem.ID, t0.Add(-time.Hour), 1, true, []byte("other"))
	path := fmt.Sprintf("/v2/vending_machines/%d/reports", f.vm.ID)
	since, until := t0.Add(-3*time.Hour).Format(time.RFC3339), t0.Format(time.RFC3339)

	res := e.do("GET", q(path, "since", since, "until", until), e.adminTok, nil)
	require.Equal(t, http.StatusOK, res.Status, string(res.Raw))
	list := res.arr(t)
	require.Len(t, list, 2)
	first := list[0].(map[string]any)
	requireShape(t, first, map[string]string{"date": "string", "data": "string", "evadts_port": "number"})
	require.Equal(t, string(text), first["data"])
	require.Equal(t, "2024-05-10T10:00:00+00:00", first["date"])

	t.Run("local", func(t *testing.T) {
		res := e.do("GET", q(path, "since", since, "until", until, "local", "1"), e.adminTok, nil)
		require.Equal(t, "2024-05-10T13:00:00+03:00", res.arr(t)[0].(map[string]any)["date"])
	})
	t.Run("port", func(t *testing.T) {
		res := e.do("GET", q(path, "since", since, "until", until, "port", "2"), e.adminTok, nil)
		list := res.arr(t)
		require.Len(t, list, 1)
		require.Equal(t, "second", list[0].(map[string]any)["data"])
		requireError(t, e.do("GET", q(path, "port", "x"), e.adminTok, nil), 400, SubMalformed)
	})
	t.Run("cp1251 base64", func(t *testing.T) {
		res := e.do("GET", q(path, "since", since, "until", until, "cp1251", "1", "base64", "1"), e.adminTok, nil)
		raw, err := base64.StdEncoding.DecodeString(res.arr(t)[0].(map[string]any)["data"].(string))
		require.NoError(t, err)
		want, err := cp1251.FromUTF8(text)
		require.NoError(t, err)
		require.Equal(t, want, raw)
		back, err := cp1251.ToUTF8(raw)
		require.NoError(t, err)
		require.Equal(t, text, back)
	})
	t.Run("base64 only", func(t *testing.T) {
		res := e.do("GET", q(path, "since", since, "until", until, "base64", "1"), e.adminTok, nil)
		raw, err := base64.StdEncoding.DecodeString(res.arr(t)[0].(map[string]any)["data"].(string))
		require.NoError(t, err)
		require.Equal(t, text, raw)
	})
	t.Run("cp1251 bytes as characters", func(t *testing.T) {
		res := e.do("GET", q(path, "since", since, "until", until, "cp1251", "1"), e.adminTok, nil)
		s := res.arr(t)[0].(map[string]any)["data"].(string)
		var b []byte
		for _, r := range s {
			require.Less(t, r, rune(256))
			b = append(b, byte(r))
		}
		want, _ := cp1251.FromUTF8(text)
		require.Equal(t, want, b)
	})
	t.Run("limits", func(t *testing.T) {
		requireError(t, e.do("GET", q(path, "since", t0.Add(-13*24*time.Hour).Format(time.RFC3339),
			"until", t0.Add(2*24*time.Hour).Format(time.RFC3339)), e.adminTok, nil), 400, SubPeriodTooLong)
		requireError(t, e.do("GET", q(path, "since", t0.Add(-15*24*time.Hour).Format(time.RFC3339),
			"until", t0.Add(-14*24*time.Hour).Format(time.RFC3339)), e.adminTok, nil), 400, SubPeriodTooDeep)
		requireError(t, e.do("GET", q(path, "since", until, "until", since), e.adminTok, nil), 400, SubPeriodReversed)
		requireError(t, e.do("GET", q(path, "since", "yesterday"), e.adminTok, nil), 400, SubMalformed)
		// 14 days exactly is allowed.
		res := e.do("GET", q(path, "since", t0.Add(-14*24*time.Hour).Format(time.RFC3339), "until", until), e.adminTok, nil)
		require.Equal(t, 200, res.Status, string(res.Raw))
	})
	t.Run("default period is today", func(t *testing.T) {
		require.Len(t, e.do("GET", path, e.adminTok, nil).arr(t), 2)
	})
	t.Run("scoping", func(t *testing.T) {
		requireError(t, e.do("GET", path, e.otherTok, nil), 404, SubNotFound)
		requireError(t, e.do("GET", path, "", nil), 401, SubUnauthorized)
	})
}

func TestReportsOne(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	f.audit(f.modem.ID, t0.Add(-15*24*time.Hour), 1, true, []byte("ancient"))
	f.audit(f.modem.ID, t0.Add(-2*time.Hour), 1, true, []byte("valid"))
	f.audit(f.modem.ID, t0.Add(-time.Hour), 2, false, []byte("broken"))
	as, err := e.st.ListAudits(context.Background(), f.vm.ID, 0, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, as, 3)
	base := fmt.Sprintf("/v2/vending_machines/%d/reports/", f.vm.ID)
	accessGrant(t, e, e.oper, f.vm)

	for _, tc := range []struct {
		path, want string
		status     int
	}{
		{fmt.Sprint(as[1].ID), "valid", 200},
		{fmt.Sprint(as[2].ID), "broken", 200},
		{fmt.Sprint(as[0].ID), "", 404}, // older than 14 days
		{fmt.Sprint(as[1].ID) + "?port=2", "", 404},
		{"999999", "", 404},
		{"abc", "", 404},
		{"last", "broken", 200},
		{"last?port=1", "valid", 200},
		{"last_valid", "valid", 200},
		{"last_valid?port=2", "", 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res := e.do("GET", base+tc.path, e.operTok, nil)
			if tc.status != 200 {
				requireError(t, res, tc.status, SubNotFound)
				return
			}
			require.Equal(t, 200, res.Status, string(res.Raw))
			obj := res.obj(t)
			requireShape(t, obj, map[string]string{"date": "string", "data": "string", "evadts_port": "number"})
			require.Equal(t, tc.want, obj["data"])
		})
	}
	requireError(t, e.do("GET", base+"last", e.otherTok, nil), 404, SubNotFound)
}

func TestReportsLastErrors(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	path := fmt.Sprintf("/v2/vending_machines/%d/reports/last_errors", f.vm.ID)
	require.Empty(t, e.do("GET", path, e.adminTok, nil).arr(t))

	f.audit(f.modem.ID, t0.Add(-3*time.Hour), 1, true, evaText(t, 1, 0, 0, 0,
		evadts.EventCounter{Code: "EJJ", CountReset: 1, Active: "1"}))
	f.audit(f.modem.ID, t0.Add(-2*time.Hour), 1, true, evaText(t, 1, 0, 0, 0,
		evadts.EventCounter{Code: "D54", CountReset: 2, CountInit: 9, Active: "1"},
		evadts.EventCounter{Code: "EGS", CountReset: 3, CountInit: 9, Active: "0"},
		evadts.EventCounter{Code: "EAR", CountReset: 0, CountInit: 4, Active: "0"}))
	res := e.do("GET", path+"?local=1", e.adminTok, nil)
	require.Equal(t, 200, res.Status, string(res.Raw))
	list := res.arr(t)
	require.Len(t, list, 2, "the newest audit only; EAR did not occur since reset")
	d := list[0].(map[string]any)
	requireShape(t, d, map[string]string{"code": "string", "evadts_port": "number", "modem_time": "string",
		"created_at": "string", "value": "string"})
	require.Equal(t, "D54", d["code"])
	require.Equal(t, "54", d["value"])
	require.Equal(t, "2024-05-10T13:00:00.000000+03:00", d["modem_time"])
	require.Equal(t, "2024-05-10T13:00:01.000000+03:00", d["created_at"])
	egs := list[1].(map[string]any)
	require.Equal(t, "EGS", egs["code"])
	require.Equal(t, "3", egs["value"])
	res = e.do("GET", path, e.adminTok, nil)
	require.Equal(t, "2024-05-10T10:00:00.000000Z", res.arr(t)[0].(map[string]any)["modem_time"])
}

func TestReportsErrorCodes(t *testing.T) {
	e := newEnv(t)
	shape := map[string]string{"code": "string", "vendor_code": "string", "name": "string", "note": "string",
		"comment": "string", "severity": "number"}
	for _, tc := range []struct {
		code, vendor, name string
		sev                int64
	}{
		{"D54", "54", "Ошибка 54", 3},
		{"EGS", "EGS", "Дверь открыта", 1},
		{"ejj", "EJJ", "Охлаждение", 3},
		{"OBA", "OBA", "Неправильная загрузка", 2},
		{"EDX", "EDX", "Горячие напитки: Неисправность оборудования", 3},
	} {
		t.Run(tc.code, func(t *testing.T) {
			res := e.do("GET", "/v2/reports/errors/"+tc.code, e.operTok, nil)
			require.Equal(t, 200, res.Status, string(res.Raw))
			obj := res.obj(t)
			requireShape(t, obj, shape)
			require.Equal(t, tc.vendor, obj["vendor_code"])
			require.Equal(t, tc.name, obj["name"])
			require.Equal(t, tc.sev, num(obj["severity"]))
		})
	}
	for _, bad := range []string{"XYZ", "E", "EZZ", "12", "D12345", "E%2F1"} {
		requireError(t, e.do("GET", "/v2/reports/errors/"+bad, e.operTok, nil), 404, SubNotFound)
	}
	requireError(t, e.do("GET", "/v2/reports/errors/D54", "", nil), 401, SubUnauthorized)
}

func TestStatsVends(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	m2 := e.modem("861000000000003", 1)
	vm2 := e.machine("VM2", 1, m2.ID, "")
	day := time.Date(2024, 5, 10, 0, 0, 0, 0, time.UTC)
	f.vend(f.modem.ID, day.Add(1*time.Hour), "2", 3500, "cash", "paid", true)
	f.vend(f.modem.ID, day.Add(2*time.Hour+30*time.Minute), "2", 3500, "cashless", "paid", true)
	f.vend(f.modem.ID, day.Add(3*time.Hour), "3", 4000, "cash", "paid", true)
	f.vend(f.modem.ID, day.Add(4*time.Hour), "3", 4000, "cash", "paid", false) // failed
	f.vend(f.modem.ID, day.Add(5*time.Hour), "4", 0, "none", "free", true)
	f.vend(m2.ID, day.Add(6*time.Hour), "1", 1000, "token", "paid", true)
	f.vend(m2.ID, day.Add(-2*time.Hour), "1", 1000, "cash", "paid", true) // yesterday
	f.vend(f.omodem.ID, day.Add(time.Hour), "1", 99999, "cash", "paid", true)

	t.Run("fleet summary", func(t *testing.T) {
		res := e.do("GET", "/v2/stats/vends/summary", e.adminTok, nil)
		require.Equal(t, 200, res.Status, string(res.Raw))
		list := res.arr(t)
		require.Len(t, list, 1)
		obj := list[0].(map[string]any)
		requireShape(t, obj, map[string]string{"number": "number", "value": "number"})
		require.Equal(t, int64(4), num(obj["number"]))
		require.Equal(t, int64(3500+3500+4000+1000), num(obj["value"]))
		// A range cutting hours: 02:15 .. 03:00:00.
		res = e.do("GET", q("/v2/stats/vends/summary", "since", "2024-05-10 02:15:00+00", "until", "2024-05-10 03:00:00+00"), e.adminTok, nil)
		obj = res.arr(t)[0].(map[string]any)
		require.Equal(t, int64(2), num(obj["number"]))
		other := e.do("GET", "/v2/stats/vends/summary", e.otherTok, nil).arr(t)[0].(map[string]any)
		require.Equal(t, int64(99999), num(other["value"]))
	})
	t.Run("fleet payments summary", func(t *testing.T) {
		res := e.do("GET", "/v2/stats/vends/payments/summary", e.adminTok, nil)
		require.Equal(t, 200, res.Status, string(res.Raw))
		got := map[[2]int64][2]int64{}
		for _, x := range res.arr(t) {
			o := x.(map[string]any)
			requireShape(t, o, map[string]string{"quantity": "number", "amount": "number", "vend_type": "number", "payment_type": "number"})
			got[[2]int64{num(o["vend_type"]), num(o["payment_type"])}] = [2]int64{num(o["quantity"]), num(o["amount"])}
		}
		require.Equal(t, map[[2]int64][2]int64{
			{3, 1}: {2, 7500}, {3, 2}: {1, 3500}, {3, 3}: {1, 1000}, {1, 0}: {1, 0},
		}, got)
	})
	t.Run("fleet limits", func(t *testing.T) {
		requireError(t, e.do("GET", q("/v2/stats/vends/summary", "since", "2024-05-01T00:00:00Z", "until", "2024-05-09T00:00:00Z"),
			e.adminTok, nil), 400, SubPeriodTooLong)
		requireError(t, e.do("GET", q("/v2/stats/vends/payments/summary", "since", "2024-03-01T00:00:00Z", "until", "2024-03-02T00:00:00Z"),
			e.adminTok, nil), 400, SubPeriodTooDeep)
	})
	vmPath := fmt.Sprintf("/v2/vending_machines/%d/stats/vends/", f.vm.ID)
	t.Run("machine summary", func(t *testing.T) {
		res := e.do("GET", q(vmPath+"summary", "since", "2024-04-20T00:00:00Z", "until", "2024-05-11T00:00:00Z"), e.adminTok, nil)
		require.Equal(t, 200, res.Status, string(res.Raw))
		obj := res.arr(t)[0].(map[string]any)
		require.Equal(t, int64(3), num(obj["number"]))
		require.Equal(t, int64(11000), num(obj["value"]))
		res = e.do("GET", fmt.Sprintf("/v2/vending_machines/%d/stats/vends/summary", vm2.ID), e.adminTok, nil)
		require.Equal(t, int64(1), num(res.arr(t)[0].(map[string]any)["number"]), "default: today only")
		requireError(t, e.do("GET", q(vmPath+"summary", "since", "2024-04-01T00:00:00Z", "until", "2024-05-03T00:00:00Z"),
			e.adminTok, nil), 400, SubPeriodTooLong)
		requireError(t, e.do("GET", vmPath+"summary", e.otherTok, nil), 404, SubNotFound)
	})
	t.Run("products", func(t *testing.T) {
		res := e.do("GET", q(vmPath+"products", "local", "1"), e.adminTok, nil)
		require.Equal(t, 200, res.Status, string(res.Raw))
		list := res.arr(t)
		require.Len(t, list, 3)
		p := list[0].(map[string]any)
		requireShape(t, p, map[string]string{"time": "string", "layout_number": "string", "name": "string",
			"vend_type": "number", "price": "number", "number": "number", "value": "number", "discount": "number",
			"payment_type": "number"})
		require.Equal(t, "2", p["layout_number"])
		require.Equal(t, int64(2), num(p["number"]))
		require.Equal(t, int64(7000), num(p["value"]))
		require.Equal(t, int64(0), num(p["payment_type"]), "mixed payments")
		require.Equal(t, "2024-05-10T05:30:00+03:00", p["time"])
		res = e.do("GET", q(vmPath+"products", "type", "free"), e.adminTok, nil)
		require.Len(t, res.arr(t), 1)
		obj := requireError(t, e.do("GET", q(vmPath+"products", "type", "cash"), e.adminTok, nil), 422, SubInvalid)
		require.Equal(t, []string{"type"}, fieldErrors(t, obj))
	})
	t.Run("payments", func(t *testing.T) {
		res := e.do("GET", vmPath+"payments", e.adminTok, nil)
		require.Len(t, res.arr(t), 4)
		res = e.do("GET", q(vmPath+"payments", "type", "cash"), e.adminTok, nil)
		list := res.arr(t)
		require.Len(t, list, 2)
		for _, x := range list {
			require.Equal(t, int64(1), num(x.(map[string]any)["payment_type"]))
		}
		requireError(t, e.do("GET", q(vmPath+"payments", "type", "paid"), e.adminTok, nil), 422, SubInvalid)
	})
}

func TestCollections(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	day := time.Date(2024, 5, 10, 0, 0, 0, 0, time.UTC)
	f.audit(f.modem.ID, day.Add(time.Hour), 1, true, evaText(t, 4, 1000, 5000, 0))
	f.audit(f.modem.ID, day.Add(2*time.Hour), 1, true, evaText(t, 4, 1500, 6000, 200))
	f.audit(f.modem.ID, day.Add(3*time.Hour), 1, false, evaText(t, 9, 1, 1, 1))         // invalid: ignored
	f.audit(f.modem.ID, day.Add(4*time.Hour), 1, true, evaText(t, 5, 2500, 10000, 300)) // reset read
	f.audit(f.omodem.ID, day.Add(4*time.Hour), 1, true, evaText(t, 1, 1, 1, 1))
	f.audit(f.omodem.ID, day.Add(5*time.Hour), 1, true, evaText(t, 2, 7, 7, 7))

	res := e.do("GET", "/v2/reports/collections", e.adminTok, nil)
	require.Equal(t, 200, res.Status, string(res.Raw))
	list := res.arr(t)
	require.Len(t, list, 1)
	c := list[0].(map[string]any)
	requireShape(t, c, map[string]string{"time": "string", "vm_id": "number", "hands_add": "number", "change": "number",
		"summary_coins": "number", "summary_banknotes": "number"})
	require.Equal(t, "2024-05-10T04:00:00+00:00", c["time"])
	require.Equal(t, f.vm.ID, num(c["vm_id"]))
	require.Equal(t, int64(300), num(c["hands_add"]))
	require.Equal(t, int64(7*100+2*500), num(c["change"]))
	require.Equal(t, int64(2500), num(c["summary_coins"]))
	require.Equal(t, int64(10000), num(c["summary_banknotes"]))

	// New audits are picked up by the next request.
	f.audit(f.modem.ID, day.Add(6*time.Hour), 1, true, evaText(t, 6, 10, 20, 30))
	require.Len(t, e.do("GET", "/v2/reports/collections", e.adminTok, nil).arr(t), 2)
	require.Empty(t, e.do("GET", q("/v2/reports/collections", "since", "2024-05-10T05:00:00Z", "until", "2024-05-10T05:59:59Z"), e.adminTok, nil).arr(t))
	other := e.do("GET", "/v2/reports/collections", e.otherTok, nil).arr(t)
	require.Len(t, other, 1)
	require.Equal(t, f.ovm.ID, num(other[0].(map[string]any)["vm_id"]))
}

func TestCRTReceipts(t *testing.T) {
	f := newRepFixture(t)
	e := f.e
	ctx := context.Background()
	m := f.vm
	m.IsCRTActive, m.SerialNumber = true, "I12345679"
	v := store.Vend{ModemID: f.modem.ID, MsgID: "v1", Selection: "7", Price: 4500, Payment: "cashless", Type: "paid", OK: true, Time: t0}
	ok, err := fiscal.EnqueueForVend(ctx, e.st, m, v, fiscal.SaleInfo{Place: "ТЦ", Address: "Мира пр 24б"}, t0)
	require.NoError(t, err)
	require.True(t, ok)
	path := "/v2/stats/crt"
	require.Empty(t, e.do("GET", path, e.adminTok, nil).arr(t), "pending receipts are not shown")

	w := fiscal.NewWorker(e.st, &fiscal.Emulated{Now: e.clk.Now}, fiscal.WorkerConfig{Now: e.clk.Now})
	n, err := w.Drain(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	res := e.do("GET", path, e.adminTok, nil)
	require.Equal(t, 200, res.Status, string(res.Raw))
	list := res.arr(t)
	require.Len(t, list, 1)
	r := list[0].(map[string]any)
	requireShape(t, r, map[string]string{"id": "number", "vm_id": "number", "created_at": "string",
		"input": "object", "output": "object", "aux": "object"})
	require.Equal(t, "2024-05-10 12:00:00+00", r["created_at"])
	in := r["input"].(map[string]any)
	require.Equal(t, "I12345679", in["terminal"])
	require.Equal(t, "45", string(in["payments"].([]any)[0].(map[string]any)["amount"].(interface{ String() string }).String()))
	out := r["output"].(map[string]any)
	requireShape(t, out, map[string]string{"fp": "string", "date": "string", "device_rn": "string", "fs_number": "string",
		"document_type": "number", "document_number": "number", "total_payment_amount": "string"})
	require.Equal(t, "45.00", out["total_payment_amount"])

	require.Len(t, e.do("GET", q(path, "vm_id", fmt.Sprint(f.vm.ID)), e.adminTok, nil).arr(t), 1)
	requireError(t, e.do("GET", q(path, "vm_id", fmt.Sprint(f.ovm.ID)), e.adminTok, nil), 404, SubNotFound)
	requireError(t, e.do("GET", q(path, "vm_id", "x"), e.adminTok, nil), 422, SubInvalid)
	require.Empty(t, e.do("GET", path, e.otherTok, nil).arr(t))
	require.Empty(t, e.do("GET", path+"/correction", e.adminTok, nil).arr(t))
	requireError(t, e.do("GET", q(path, "since", "2024-04-01T00:00:00Z", "until", "2024-05-10T00:00:00Z"), e.adminTok, nil),
		400, SubPeriodTooLong)
}
