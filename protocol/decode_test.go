package protocol

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testTS = 1732560000000

type obj = map[string]any

// validObj returns a fresh valid payload of class c as a JSON-ready map, so
// each bad case changes exactly one thing.
func validObj(c Class) obj {
	h := func(o obj) obj {
		o["v"], o["id"], o["ts"] = 1, "m1", testTS
		return o
	}
	switch c {
	case ClassHello:
		return h(obj{"imei": testIMEI, "firmware": "3.2.7", "bus": "mdb", "hb_interval": 60,
			"cashless": obj{"enabled": true, "address": 1, "level": 3},
			"iccid":    "8970101234567890123", "caps": []string{"reset", "dispense"}})
	case ClassState:
		return h(obj{"online": false, "epoch": 7, "reason": "lwt"})
	case ClassHeartbeat:
		return h(obj{"uptime": 10, "signal": 20, "vm_link": true, "errors": 3, "epoch": 7})
	case ClassEvent:
		return h(obj{"code": "DOOR_OPEN", "time": testTS, "payload": obj{"a": 1}})
	case ClassVend:
		return h(obj{"sel": "A3", "price": 150, "payment": "cash", "type": "paid", "ok": true, "time": testTS, "cmd": "c9"})
	case ClassAudit:
		return h(obj{"port": 2, "time": testTS, "data": "DXS*1\r\nDXE*1*1\r\n"})
	case ClassCommandResult:
		return h(obj{"cmd": "c1", "status": "succeeded", "code": 0, "msg": "ok", "result": obj{"x": 1}})
	case ClassCommandRequest:
		return h(obj{"name": "dispense", "exp": testTS + 60000,
			"args": obj{"number": 3, "cup": true, "sugar": 2, "discount": 10}})
	}
	panic("no class")
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestDecodeValid(t *testing.T) {
	for c := ClassHello; c <= ClassCommandRequest; c++ {
		t.Run(c.String(), func(t *testing.T) {
			v, err := Decode(c, mustJSON(t, validObj(c)))
			require.NoError(t, err)
			assert.Equal(t, c, ClassOf(v))
		})
	}
	t.Run("unknown class", func(t *testing.T) {
		_, err := Decode(ClassUnknown, []byte(`{}`))
		require.ErrorIs(t, err, ErrTopic)
	})
}

func TestDecodeFieldValues(t *testing.T) {
	h, err := DecodeHello(mustJSON(t, validObj(ClassHello)))
	require.NoError(t, err)
	assert.Equal(t, Hello{
		Header: Header{V: 1, ID: "m1", TS: testTS}, IMEI: testIMEI, ICCID: "8970101234567890123",
		Firmware: "3.2.7", Bus: BusMDB, Cashless: Cashless{Enabled: true, Address: 1, Level: 3},
		HBInterval: 60, Caps: []string{"reset", "dispense"},
	}, h)

	e, err := DecodeEvent([]byte(`{"v":1,"id":"e","ts":1,"code":"X","time":2,"payload": { "a" : [1, 2] } }`))
	require.NoError(t, err)
	assert.Equal(t, `{"a":[1,2]}`, string(e.Payload), "payload is compacted")

	e, err = DecodeEvent([]byte(`{"v":1,"id":"e","ts":1,"code":"X","time":2,"payload":null}`))
	require.NoError(t, err)
	assert.Nil(t, e.Payload, "null payload is absent")

	hl, err := DecodeHello([]byte(`{"v":1,"id":"h","ts":1,"imei":"12345678901234","firmware":"f","bus":"none","cashless":{"enabled":false,"address":0},"hb_interval":1,"caps":[]}`))
	require.NoError(t, err)
	assert.Nil(t, hl.Caps, "empty caps normalise to nil")
}

func TestDecodeErrors(t *testing.T) {
	type mut = func(o obj)
	set := func(k string, v any) mut { return func(o obj) { o[k] = v } }
	del := func(k string) mut { return func(o obj) { delete(o, k) } }
	setIn := func(outer, k string, v any) mut { return func(o obj) { o[outer].(obj)[k] = v } }
	delIn := func(outer, k string) mut { return func(o obj) { delete(o[outer].(obj), k) } }
	args := func(a obj) mut { return set("args", a) }
	req := func(name string, a any) mut {
		return func(o obj) {
			o["name"] = name
			if a == nil {
				delete(o, "args")
			} else {
				o["args"] = a
			}
		}
	}

	tests := []struct {
		name  string
		class Class
		mut   mut
		err   error
		field string
	}{
		// envelope, on every class
		{"missing v", ClassHeartbeat, del("v"), ErrMissingField, "v"},
		{"v 2", ClassHeartbeat, set("v", 2), ErrVersion, "v"},
		{"v string", ClassState, set("v", "1"), ErrVersion, "v"},
		{"v 1.0", ClassState, set("v", 1.5), ErrVersion, "v"},
		{"v null", ClassState, set("v", nil), ErrVersion, "v"},
		{"missing id", ClassVend, del("id"), ErrMissingField, "id"},
		{"missing ts", ClassEvent, del("ts"), ErrMissingField, "ts"},
		{"id empty", ClassAudit, set("id", ""), ErrInvalidValue, "id"},
		{"id slash", ClassAudit, set("id", "a/b"), ErrInvalidValue, "id"},
		{"id number", ClassAudit, set("id", 5), ErrInvalidValue, "id"},
		{"ts zero", ClassHello, set("ts", 0), ErrInvalidValue, "ts"},
		{"ts float", ClassHello, set("ts", 1.5), ErrInvalidValue, "ts"},
		{"ts null", ClassHello, set("ts", nil), ErrInvalidValue, "ts"},
		{"unknown field", ClassHeartbeat, set("rssi", 1), ErrUnknownField, "rssi"},
		{"field case matters", ClassHeartbeat, func(o obj) { o["Signal"] = o["signal"]; delete(o, "signal") }, ErrUnknownField, "Signal"},
		{"unknown fields sorted", ClassState, func(o obj) { o["zz"], o["aa"] = 1, 2 }, ErrUnknownField, "aa"},

		// hello
		{"hello imei", ClassHello, set("imei", "123"), ErrInvalidValue, "imei"},
		{"hello missing imei", ClassHello, del("imei"), ErrMissingField, "imei"},
		{"hello firmware empty", ClassHello, set("firmware", ""), ErrInvalidValue, "firmware"},
		{"hello firmware control", ClassHello, set("firmware", "1\n2"), ErrInvalidValue, "firmware"},
		{"hello iccid long", ClassHello, set("iccid", strings.Repeat("8", 33)), ErrInvalidValue, "iccid"},
		{"hello bus", ClassHello, set("bus", "MDB"), ErrInvalidValue, "bus"},
		{"hello missing bus", ClassHello, del("bus"), ErrMissingField, "bus"},
		{"hello hb 0", ClassHello, set("hb_interval", 0), ErrInvalidValue, "hb_interval"},
		{"hello hb 3601", ClassHello, set("hb_interval", 3601), ErrInvalidValue, "hb_interval"},
		{"hello caps unknown", ClassHello, set("caps", []string{"reset", "fly"}), ErrInvalidValue, "caps"},
		{"hello caps repeated", ClassHello, set("caps", []string{"reset", "reset"}), ErrInvalidValue, "caps"},
		{"hello caps not array", ClassHello, set("caps", "reset"), ErrInvalidValue, "caps"},
		{"hello cashless missing", ClassHello, del("cashless"), ErrMissingField, "cashless"},
		{"hello cashless null", ClassHello, set("cashless", nil), ErrInvalidValue, "cashless"},
		{"hello cashless array", ClassHello, set("cashless", []int{1}), ErrInvalidValue, "cashless"},
		{"hello cashless.address 3", ClassHello, setIn("cashless", "address", 3), ErrInvalidValue, "cashless.address"},
		{"hello cashless.address missing", ClassHello, delIn("cashless", "address"), ErrMissingField, "cashless.address"},
		{"hello cashless.level 4", ClassHello, setIn("cashless", "level", 4), ErrInvalidValue, "cashless.level"},
		{"hello cashless.enabled string", ClassHello, setIn("cashless", "enabled", "yes"), ErrInvalidValue, "cashless.enabled"},
		{"hello cashless unknown", ClassHello, setIn("cashless", "Address", 1), ErrUnknownField, "cashless.Address"},

		// state
		{"state missing online", ClassState, del("online"), ErrMissingField, "online"},
		{"state epoch negative", ClassState, set("epoch", -1), ErrInvalidValue, "epoch"},
		{"state reason control", ClassState, set("reason", "a\tb"), ErrInvalidValue, "reason"},

		// heartbeat
		{"hb signal 32", ClassHeartbeat, set("signal", 32), ErrInvalidValue, "signal"},
		{"hb signal -1", ClassHeartbeat, set("signal", -1), ErrInvalidValue, "signal"},
		{"hb uptime negative", ClassHeartbeat, set("uptime", -1), ErrInvalidValue, "uptime"},
		{"hb errors overflow", ClassHeartbeat, set("errors", int64(1)<<32), ErrInvalidValue, "errors"},
		{"hb vm_link number", ClassHeartbeat, set("vm_link", 1), ErrInvalidValue, "vm_link"},
		{"hb missing epoch", ClassHeartbeat, del("epoch"), ErrMissingField, "epoch"},

		// event
		{"evt code lower", ClassEvent, set("code", "door"), ErrInvalidValue, "code"},
		{"evt code long", ClassEvent, set("code", strings.Repeat("A", 17)), ErrInvalidValue, "code"},
		{"evt code empty", ClassEvent, set("code", ""), ErrInvalidValue, "code"},
		{"evt time zero", ClassEvent, set("time", 0), ErrInvalidValue, "time"},
		{"evt payload string", ClassEvent, set("payload", "x"), ErrInvalidValue, "payload"},
		{"evt payload number", ClassEvent, set("payload", 1), ErrInvalidValue, "payload"},

		// vend
		{"vend sel empty", ClassVend, set("sel", ""), ErrInvalidValue, "sel"},
		{"vend sel long", ClassVend, set("sel", strings.Repeat("1", 17)), ErrInvalidValue, "sel"},
		{"vend price negative", ClassVend, set("price", -1), ErrInvalidValue, "price"},
		{"vend payment", ClassVend, set("payment", "card"), ErrInvalidValue, "payment"},
		{"vend type", ClassVend, set("type", "gift"), ErrInvalidValue, "type"},
		{"vend cmd", ClassVend, set("cmd", "a b"), ErrInvalidValue, "cmd"},
		{"vend missing ok", ClassVend, del("ok"), ErrMissingField, "ok"},
		{"vend time zero", ClassVend, set("time", 0), ErrInvalidValue, "time"},
		{"audit time zero", ClassAudit, set("time", 0), ErrInvalidValue, "time"},
		{"audit cmd", ClassAudit, set("cmd", "#"), ErrInvalidValue, "cmd"},
		{"hello hw_version", ClassHello, set("hw_version", strings.Repeat("h", 65)), ErrInvalidValue, "hw_version"},
		{"hello boot_version", ClassHello, set("boot_version", "é"), ErrInvalidValue, "boot_version"},
		{"hello phone", ClassHello, set("phone", strings.Repeat("1", 33)), ErrInvalidValue, "phone"},
		{"res msg control", ClassCommandResult, set("msg", "a\x00b"), ErrInvalidValue, "msg"},
		{"res msg C1 control", ClassCommandResult, set("msg", "a\u0085b"), ErrInvalidValue, "msg"},
		{"long unknown field clipped", ClassState, set(strings.Repeat("k", 100), 1), ErrUnknownField, strings.Repeat("k", 40) + "…"},

		// audit
		{"audit port 3", ClassAudit, set("port", 3), ErrInvalidValue, "port"},
		{"audit enc", ClassAudit, set("enc", "gzip"), ErrInvalidValue, "enc"},
		{"audit empty", ClassAudit, set("data", ""), ErrInvalidValue, "data"},
		{"audit missing data", ClassAudit, del("data"), ErrMissingField, "data"},
		{"audit bad base64", ClassAudit, func(o obj) { o["enc"], o["data"] = "base64", "!!!!" }, ErrInvalidValue, "data"},
		{"audit base64 with newline", ClassAudit, func(o obj) { o["enc"], o["data"] = "base64", "RFhT\nKjE=" }, ErrInvalidValue, "data"},
		{"audit base64 empty", ClassAudit, func(o obj) { o["enc"], o["data"] = "base64", "" }, ErrInvalidValue, "data"},
		{"audit base64 non-canonical", ClassAudit, func(o obj) { o["enc"], o["data"] = "base64", "RFhU=" }, ErrInvalidValue, "data"},
		{"audit text too large", ClassAudit, func(o obj) {
			o["enc"], o["data"] = "base64", base64.StdEncoding.EncodeToString(make([]byte, MaxAuditText+1))
		}, ErrTooLarge, "data"},

		// command result
		{"res cmd", ClassCommandResult, set("cmd", ""), ErrInvalidValue, "cmd"},
		{"res status", ClassCommandResult, set("status", "done"), ErrInvalidValue, "status"},
		{"res code negative", ClassCommandResult, set("code", -1), ErrInvalidValue, "code"},
		{"res code on success", ClassCommandResult, set("code", 2), ErrInvalidValue, "code"},
		{"res failure without code", ClassCommandResult, set("status", "failed"), ErrInvalidValue, "code"},
		{"res result array", ClassCommandResult, set("result", []int{1}), ErrInvalidValue, "result"},
		{"res unicode msg ok, code on success not", ClassCommandResult, func(o obj) { o["msg"] = "готово"; o["code"] = 1 }, ErrInvalidValue, "code"},
		{"res msg too long", ClassCommandResult, set("msg", strings.Repeat("m", 257)), ErrInvalidValue, "msg"},
		{"res missing code", ClassCommandResult, del("code"), ErrMissingField, "code"},

		// command request
		{"req name", ClassCommandRequest, set("name", "fly"), ErrInvalidValue, "name"},
		{"req missing name", ClassCommandRequest, del("name"), ErrMissingField, "name"},
		{"req exp equal ts", ClassCommandRequest, set("exp", testTS), ErrInvalidValue, "exp"},
		{"req missing exp", ClassCommandRequest, del("exp"), ErrMissingField, "exp"},
		{"req args array", ClassCommandRequest, set("args", []int{}), ErrInvalidValue, "args"},
		{"req args unknown", ClassCommandRequest, args(obj{"number": 1, "cup": true, "sugar": 0, "milk": 1}), ErrUnknownField, "args.milk"},
		{"dispense sugar 5", ClassCommandRequest, args(obj{"number": 1, "cup": true, "sugar": 5}), ErrInvalidValue, "args.sugar"},
		{"dispense number negative", ClassCommandRequest, args(obj{"number": -1, "cup": true, "sugar": 0}), ErrInvalidValue, "args.number"},
		{"dispense discount negative", ClassCommandRequest, args(obj{"number": 1, "cup": true, "sugar": 0, "discount": -1}), ErrInvalidValue, "args.discount"},
		{"dispense missing cup", ClassCommandRequest, args(obj{"number": 1, "sugar": 0}), ErrMissingField, "args.cup"},
		{"dispense without args", ClassCommandRequest, req("dispense", nil), ErrMissingField, "args.number"},
		{"reset with args", ClassCommandRequest, req("reset", obj{"hard": true}), ErrUnknownField, "args.hard"},
		{"cashless_mode missing", ClassCommandRequest, req("cashless_mode", obj{}), ErrMissingField, "args.enabled"},
		{"cashless_mode null", ClassCommandRequest, req("cashless_mode", obj{"enabled": nil}), ErrInvalidValue, "args.enabled"},
		{"cashless_address 0", ClassCommandRequest, req("cashless_address", obj{"address": 0}), ErrInvalidValue, "args.address"},
		{"cashless_credit amount 0", ClassCommandRequest, req("cashless_credit", obj{"amount": 0, "auto_approve": true}), ErrInvalidValue, "args.amount"},
		{"cashless_credit timeout", ClassCommandRequest, req("cashless_credit", obj{"amount": 1, "auto_approve": true, "timeout": -1}), ErrInvalidValue, "args.timeout"},
		{"cashless_credit amount string", ClassCommandRequest, req("cashless_credit", obj{"amount": "1", "auto_approve": true}), ErrInvalidValue, "args.amount"},
		{"request nothing", ClassCommandRequest, req("request", obj{"report": false, "config": false}), ErrInvalidValue, "args"},
		{"set_config empty", ClassCommandRequest, req("set_config", obj{}), ErrInvalidValue, "args"},
		{"set_config hb", ClassCommandRequest, req("set_config", obj{"hb_interval": 0}), ErrInvalidValue, "args.hb_interval"},
		{"set_config phone", ClassCommandRequest, req("set_config", obj{"phone": strings.Repeat("1", 33)}), ErrInvalidValue, "args.phone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := validObj(tc.class)
			tc.mut(o)
			v, err := Decode(tc.class, mustJSON(t, o))
			require.Error(t, err, "decoded a %T", v)
			require.ErrorIs(t, err, tc.err)
			var de *DecodeError
			require.True(t, errors.As(err, &de))
			assert.Equal(t, tc.class, de.Class)
			assert.Equal(t, tc.field, de.Field)
			assert.Nil(t, v)
			assert.True(t, strings.HasPrefix(err.Error(), "protocol: "+tc.class.String()), err.Error())
		})
	}
}

func TestDecodeRawErrors(t *testing.T) {
	hb := string(mustJSON(t, validObj(ClassHeartbeat)))
	tests := []struct {
		name   string
		input  string
		err    error
		reason string
	}{
		{"empty", "", ErrSyntax, "syntax"},
		{"whitespace", "  \n", ErrSyntax, "syntax"},
		{"null", "null", ErrSyntax, "syntax"},
		{"array", "[" + hb + "]", ErrSyntax, "syntax"},
		{"string", `"x"`, ErrSyntax, "syntax"},
		{"truncated", hb[:len(hb)-1], ErrSyntax, "syntax"},
		{"trailing object", hb + "{}", ErrSyntax, "syntax"},
		{"trailing garbage", hb + " x", ErrSyntax, "syntax"},
		{"two objects", hb + hb, ErrSyntax, "syntax"},
		{"invalid utf-8", hb[:len(hb)-1] + ",\"x\":\"\xff\"}", ErrSyntax, "syntax"},
		{"too large", hb[:len(hb)-1] + `,"pad":"` + strings.Repeat(" ", MaxPayload(ClassHeartbeat)) + `"}`, ErrTooLarge, "too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeHeartbeat([]byte(tc.input))
			require.ErrorIs(t, err, tc.err)
			assert.Equal(t, tc.reason, Reason(err))
		})
	}
	t.Run("surrounding whitespace ok", func(t *testing.T) {
		_, err := DecodeHeartbeat([]byte(" \r\n" + hb + "\n"))
		require.NoError(t, err)
	})
	t.Run("size limit is inclusive", func(t *testing.T) {
		pad := MaxPayload(ClassHeartbeat) - len(hb)
		_, err := DecodeHeartbeat([]byte(hb + strings.Repeat(" ", pad)))
		require.NoError(t, err)
		_, err = DecodeHeartbeat([]byte(hb + strings.Repeat(" ", pad+1)))
		require.ErrorIs(t, err, ErrTooLarge)
	})
}

func TestDecodeArgs(t *testing.T) {
	hb := 90
	phone := "+7900"
	tests := []struct {
		name CommandName
		args string
		want any
	}{
		{CmdReset, ``, ResetArgs{}},
		{CmdReset, `{}`, ResetArgs{}},
		{CmdReset, `null`, ResetArgs{}},
		{CmdCashlessMode, `{"enabled":true}`, CashlessModeArgs{Enabled: true}},
		{CmdCashlessAddress, `{"address":2}`, CashlessAddressArgs{Address: 2}},
		{CmdCashlessCredit, `{"amount":500,"auto_approve":false,"timeout":30}`, CashlessCreditArgs{Amount: 500, Timeout: 30}},
		{CmdDispense, `{"number":0,"cup":false,"sugar":4}`, DispenseArgs{Sugar: 4}},
		{CmdRequest, `{"report":true,"config":false}`, RequestArgs{Report: true}},
		{CmdSetConfig, `{"hb_interval":90}`, SetConfigArgs{HBInterval: &hb}},
		{CmdSetConfig, `{"phone":"+7900","hb_interval":null}`, SetConfigArgs{Phone: &phone}},
	}
	for _, tc := range tests {
		t.Run(string(tc.name)+tc.args, func(t *testing.T) {
			got, err := CommandRequest{Name: tc.name, Args: json.RawMessage(tc.args)}.DecodeArgs()
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	t.Run("unknown name", func(t *testing.T) {
		_, err := CommandRequest{Name: "fly"}.DecodeArgs()
		require.ErrorIs(t, err, ErrInvalidValue)
	})
	t.Run("invalid json", func(t *testing.T) {
		_, err := CommandRequest{Name: CmdReset, Args: json.RawMessage(`{`)}.DecodeArgs()
		require.ErrorIs(t, err, ErrSyntax)
	})
}

func TestAuditText(t *testing.T) {
	text := "DXS*1\r\nDXE*1*1\r\n"
	got, err := Audit{Data: text}.Text()
	require.NoError(t, err)
	assert.Equal(t, text, string(got))
	got, err = Audit{Enc: "base64", Data: base64.StdEncoding.EncodeToString([]byte(text))}.Text()
	require.NoError(t, err)
	assert.Equal(t, text, string(got))
	_, err = Audit{Enc: "hex", Data: "00"}.Text()
	require.ErrorIs(t, err, ErrInvalidValue)

	// The biggest audit fits both MaxAuditText and MaxPayload.
	a := Audit{Header: Header{V: 1, ID: "a", TS: 1}, Port: 2, Time: 1, Enc: "base64", Cmd: strings.Repeat("c", 64),
		Data: base64.StdEncoding.EncodeToString(make([]byte, MaxAuditText))}
	b, err := Encode(a)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b)+MaxTopicLen, MaxPacket)
	back, err := DecodeAudit(b)
	require.NoError(t, err)
	txt, err := back.Text()
	require.NoError(t, err)
	assert.Len(t, txt, MaxAuditText)
}

func TestDecodeErrorFormat(t *testing.T) {
	err := &DecodeError{Class: ClassHello, Field: "cashless.address", Err: ErrInvalidValue, Detail: "3 is not 0, 1 or 2"}
	assert.Equal(t, "protocol: hello.cashless.address: invalid value: 3 is not 0, 1 or 2", err.Error())
	err = &DecodeError{Class: ClassHeartbeat, Err: ErrSyntax}
	assert.Equal(t, "protocol: hb: malformed json", err.Error())
	assert.Equal(t, "other", Reason(nil))
	assert.Equal(t, "other", Reason(errors.New("x")))
	assert.Equal(t, "unsupported_version", Reason(&DecodeError{Err: ErrVersion}))
	assert.Equal(t, "unknown_field", Reason(&DecodeError{Err: ErrUnknownField}))
	assert.Equal(t, "missing_field", Reason(&DecodeError{Err: ErrMissingField}))
}

func TestCashlessCreditVends(t *testing.T) {
	ok := []byte(`{"v":1,"id":"c1","ts":1,"name":"cashless_credit","exp":2,"args":{"amount":150,"auto_approve":true,"vends":2}}`)
	req, err := DecodeCommandRequest(ok)
	if err != nil {
		t.Fatal(err)
	}
	a, err := req.DecodeArgs()
	if err != nil || a.(CashlessCreditArgs).Vends != 2 {
		t.Fatalf("%+v %v", a, err)
	}
	bad, _ := DecodeCommandRequest([]byte(`{"v":1,"id":"c1","ts":1,"name":"cashless_credit","exp":2,"args":{"amount":150,"auto_approve":true,"vends":-1}}`))
	if _, err := bad.DecodeArgs(); !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("vends -1: %v", err)
	}
}
