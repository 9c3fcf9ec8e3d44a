package protocol

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fastSeeds = []string{
	`{"v":1,"id":"hb-1","ts":1732560060000,"uptime":86400,"signal":21,"vm_link":true,"errors":0,"epoch":42}`,
	`{"v":1,"id":"hb-1","ts":-5,"uptime":-1,"signal":99,"vm_link":false,"errors":4294967295,"epoch":18446744073709551615}`,
	`{"v":1,"id":"hb-1","ts":1,"uptime":1,"signal":21,"vm_link":true,"errors":4294967296,"epoch":1}`,
	`{"v":1,"id":"hb-1","ts":1.5,"uptime":1,"signal":21,"vm_link":true,"errors":0,"epoch":1}`,
	`{"v":1,"id":"hb\u002d1","ts":1,"uptime":1e3,"signal":"21","vm_link":1,"errors":-1,"epoch":1}`,
	`{"v":1,"id":"e-1","ts":1732560060000,"code":"DOOR","time":1732560060000,"payload":{"open": true}}`,
	`{"v":1,"id":"e-1","ts":1,"code":"DOOR","time":1,"payload":null}`,
	`{"v":1,"id":"e-1","ts":1,"code":"DO\"OR","time":1,"payload":[1, 2]}`,
	`{"v":1,"id":"e-1","ts":1,"code":"DOOR","time":1,"time":2}`,
	`{"v":1,"id":"e-1","ts":1,"code":null,"time":1}`,
	` { "v" : 1 , "id" : "x" , "ts" : 0 , "code" : "A" , "time" : 0 } `,
	`{"v":1,"id":"hb-1","ts":1,"uptime":1,"signal":"x","signal":21,"vm_link":true,"errors":0,"epoch":42}`,
	`{"v":"1","v":1,"id":"e-1","ts":1,"code":"DOOR","time":1}`,
}

// The fast path must give exactly what encoding/json gives: the same value,
// or the same error.
func checkFastSame(t *testing.T, b []byte) {
	t.Helper()
	hf, ef := decodeHeartbeat(b, true)
	hs, es := decodeHeartbeat(b, false)
	if !reflect.DeepEqual(hf, hs) || !sameErr(ef, es) {
		t.Fatalf("heartbeat %q:\nfast %+v %v\nslow %+v %v", b, hf, ef, hs, es)
	}
	vf, ef := decodeEvent(b, true)
	vs, es := decodeEvent(b, false)
	if !reflect.DeepEqual(vf, vs) || !sameErr(ef, es) {
		t.Fatalf("event %q:\nfast %+v %v\nslow %+v %v", b, vf, ef, vs, es)
	}
	sf, ef := decodeState(b, true)
	ss, es := decodeState(b, false)
	if !reflect.DeepEqual(sf, ss) || !sameErr(ef, es) {
		t.Fatalf("state %q:\nfast %+v %v\nslow %+v %v", b, sf, ef, ss, es)
	}
	lf, ef := decodeHello(b, true)
	ls, es := decodeHello(b, false)
	if !reflect.DeepEqual(lf, ls) || !sameErr(ef, es) {
		t.Fatalf("hello %q:\nfast %+v %v\nslow %+v %v", b, lf, ef, ls, es)
	}
	rf, ef := decodeCommandResult(b, true)
	rs, es := decodeCommandResult(b, false)
	if !reflect.DeepEqual(rf, rs) || !sameErr(ef, es) {
		t.Fatalf("command result %q:\nfast %+v %v\nslow %+v %v", b, rf, ef, rs, es)
	}
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Error() == b.Error()
}

func TestFastDecodeSameAsEncodingJSON(t *testing.T) {
	for _, s := range fastSeeds {
		checkFastSame(t, []byte(s))
	}
	// And the fast path is taken for plain payloads.
	var h Heartbeat
	m, err := parseTop(ClassHeartbeat, []byte(fastSeeds[0]), heartbeatFields)
	if err != nil || !fastHeartbeat(m, &h) || h.Epoch != 42 || h.ID != "hb-1" {
		t.Fatalf("fast path not taken: %v %+v", err, h)
	}
}

func FuzzFastDecode(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	for _, tt := range fastCases {
		f.Add([]byte(tt.payload))
	}
	// Every golden payload, valid or not, of the five fast classes.
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	require.NoError(f, err)
	for _, p := range paths {
		name := strings.TrimPrefix(filepath.Base(p), "invalid-")
		for _, prefix := range []string{"hb", "evt", "state", "hello", "cmd_res"} {
			if strings.HasPrefix(name, prefix) {
				b, err := os.ReadFile(p)
				require.NoError(f, err)
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFastSame(t, b) })
}

// Payloads around the edges of the state and hello fast paths.
const (
	stateBase = `{"v":1,"id":"s-1","ts":1732560000010,"online":true,"epoch":42`
	helloHead = `{"v":1,"id":"h-1","ts":1732560000000,"imei":"861234567890123","firmware":"3.2.7","bus":"mdb","hb_interval":60,`
	cashless1 = `"cashless":{"enabled":true,"address":1,"level":3}`
)

var fastCases = []struct {
	name    string
	class   Class
	payload string
	fast    bool   // the fast path decodes it (false: encoding/json does, or parsing refuses it first)
	reason  string // Reason of the error; "" when it decodes
}{
	{"state/plain", ClassState, stateBase + `}`, true, ""},
	{"state/lwt", ClassState, `{"v":1,"id":"s-1","ts":1,"online":false,"epoch":0,"reason":"lwt"}`, true, ""},
	{"state/other reason", ClassState, stateBase + `,"reason":"power cut"}`, true, ""},
	{"state/reason null", ClassState, stateBase + `,"reason":null}`, true, ""},
	{"state/whitespace", ClassState, " {\n \"v\" : 1 ,\t\"id\":\"s-1\", \"ts\":1 , \"online\" : false, \"epoch\":7 }\r\n", true, ""},
	{"state/escaped member name", ClassState, `{"\u0076":1,"id":"s-1","ts":1,"online":true,"epoch":1}`, true, ""},
	{"state/escaped id", ClassState, `{"v":1,"id":"s\u002d1","ts":1,"online":true,"epoch":1}`, false, ""},
	{"state/escaped reason", ClassState, stateBase + `,"reason":"l\u0077t"}`, false, ""},
	{"state/escaped control in reason", ClassState, stateBase + `,"reason":"a\nb"}`, false, "invalid_value"},
	{"state/unknown field", ClassState, stateBase + `,"extra":1}`, false, "unknown_field"},
	{"state/online null", ClassState, `{"v":1,"id":"s-1","ts":1,"online":null,"epoch":1}`, false, "invalid_value"},
	{"state/online string", ClassState, `{"v":1,"id":"s-1","ts":1,"online":"true","epoch":1}`, false, "invalid_value"},
	{"state/id number", ClassState, `{"v":1,"id":5,"ts":1,"online":true,"epoch":1}`, false, "invalid_value"},
	{"state/epoch negative", ClassState, `{"v":1,"id":"s-1","ts":1,"online":true,"epoch":-1}`, false, "invalid_value"},
	{"state/epoch max", ClassState, `{"v":1,"id":"s-1","ts":1,"online":true,"epoch":18446744073709551615}`, true, ""},
	{"state/epoch overflow", ClassState, `{"v":1,"id":"s-1","ts":1,"online":true,"epoch":18446744073709551616}`, false, "invalid_value"},
	{"state/epoch fraction", ClassState, `{"v":1,"id":"s-1","ts":1,"online":true,"epoch":1.0}`, false, "invalid_value"},
	{"state/epoch exponent", ClassState, `{"v":1,"id":"s-1","ts":1,"online":true,"epoch":1e2}`, false, "invalid_value"},
	{"state/ts overflow", ClassState, `{"v":1,"id":"s-1","ts":9223372036854775808,"online":true,"epoch":1}`, false, "invalid_value"},
	{"state/ts minus zero", ClassState, `{"v":1,"id":"s-1","ts":-0,"online":true,"epoch":1}`, true, "invalid_value"},
	{"state/ts negative", ClassState, `{"v":1,"id":"s-1","ts":-5,"online":true,"epoch":1}`, true, "invalid_value"},
	{"state/duplicate bad then good", ClassState, `{"v":1,"id":"s-1","ts":1,"online":"x","online":true,"epoch":1}`, false, "invalid_value"},
	{"state/duplicate good", ClassState, `{"v":1,"id":"s-1","ts":1,"online":false,"online":true,"epoch":1}`, false, ""},
	{"state/duplicate version", ClassState, `{"v":"1","v":1,"id":"s-1","ts":1,"online":true,"epoch":1}`, false, "invalid_value"},
	{"state/too large", ClassState, stateBase + `,"reason":"` + strings.Repeat("x", 1100) + `"}`, false, "too_large"},
	{"state/trailing data", ClassState, stateBase + `} {}`, false, "syntax"},

	{"hello/full", ClassHello, helloHead + cashless1 + `,"iccid":"8970101234567890123","hw_version":"TM-2.1","boot_version":"1.04","phone":"+79001234567","caps":["reset","cashless_mode","cashless_address","cashless_credit","dispense","request","set_config"]}`, true, ""},
	{"hello/minimal", ClassHello, `{"v":1,"id":"h1","ts":1,"imei":"3569380356438091","firmware":"1.0","bus":"none","cashless":{"enabled":false,"address":0},"hb_interval":300}`, true, ""},
	{"hello/optional nulls", ClassHello, helloHead + `"cashless":{"enabled":true,"address":1,"level":null},"iccid":null,"hw_version":null,"boot_version":null,"phone":null,"caps":null}`, true, ""},
	{"hello/escaped firmware", ClassHello, `{"v":1,"id":"h-1","ts":1,"imei":"861234567890123","firmware":"3.2\u002e7","bus":"mdb","hb_interval":60,` + cashless1 + `}`, false, ""},
	{"hello/escaped bus", ClassHello, `{"v":1,"id":"h-1","ts":1,"imei":"861234567890123","firmware":"3","bus":"md\u0062","hb_interval":60,` + cashless1 + `}`, false, ""},
	{"hello/bus upper case", ClassHello, `{"v":1,"id":"h-1","ts":1,"imei":"861234567890123","firmware":"3","bus":"MDB","hb_interval":60,` + cashless1 + `}`, true, "invalid_value"},
	{"hello/imei null", ClassHello, `{"v":1,"id":"h-1","ts":1,"imei":null,"firmware":"3","bus":"mdb","hb_interval":60,` + cashless1 + `}`, false, "invalid_value"},
	{"hello/imei number", ClassHello, `{"v":1,"id":"h-1","ts":1,"imei":861234567890123,"firmware":"3","bus":"mdb","hb_interval":60,` + cashless1 + `}`, false, "invalid_value"},
	{"hello/unknown field", ClassHello, helloHead + cashless1 + `,"Caps":[]}`, false, "unknown_field"},
	{"hello/hb_interval overflow", ClassHello, `{"v":1,"id":"h-1","ts":1,"imei":"861234567890123","firmware":"3","bus":"mdb","hb_interval":99999999999999999999,` + cashless1 + `}`, false, "invalid_value"},
	{"hello/hb_interval out of range", ClassHello, `{"v":1,"id":"h-1","ts":1,"imei":"861234567890123","firmware":"3","bus":"mdb","hb_interval":3601,` + cashless1 + `}`, true, "invalid_value"},
	{"hello/duplicate imei", ClassHello, helloHead + cashless1 + `,"imei":"861234567890124"}`, false, ""},
	{"hello/caps empty", ClassHello, helloHead + cashless1 + `,"caps":[]}`, true, ""},
	{"hello/caps spaced", ClassHello, helloHead + cashless1 + `,"caps":[ "reset" ,` + "\n" + ` "dispense" ]}`, true, ""},
	{"hello/caps one", ClassHello, helloHead + cashless1 + `,"caps":["request"]}`, true, ""},
	{"hello/caps unknown command", ClassHello, helloHead + cashless1 + `,"caps":["reset","fly"]}`, true, "invalid_value"},
	{"hello/caps repeated", ClassHello, helloHead + cashless1 + `,"caps":["reset","reset"]}`, true, "invalid_value"},
	{"hello/caps escaped", ClassHello, helloHead + cashless1 + `,"caps":["re\u0073et"]}`, false, ""},
	{"hello/caps number", ClassHello, helloHead + cashless1 + `,"caps":[1]}`, false, "invalid_value"},
	{"hello/caps null element", ClassHello, helloHead + cashless1 + `,"caps":["reset",null]}`, false, "invalid_value"},
	{"hello/caps nested array", ClassHello, helloHead + cashless1 + `,"caps":[["reset"]]}`, false, "invalid_value"},
	{"hello/caps string", ClassHello, helloHead + cashless1 + `,"caps":"reset"}`, false, "invalid_value"},
	{"hello/caps object", ClassHello, helloHead + cashless1 + `,"caps":{}}`, false, "invalid_value"},
	{"hello/caps repeated member", ClassHello, helloHead + cashless1 + `,"caps":[1],"caps":["reset"]}`, false, "invalid_value"},
	{"hello/cashless no level", ClassHello, helloHead + `"cashless":{"enabled":true,"address":2}}`, true, ""},
	{"hello/cashless spaced", ClassHello, helloHead + `"cashless": { "level" : 1 , "address" : 2 , "enabled" : false } }`, true, ""},
	{"hello/cashless address string", ClassHello, helloHead + `"cashless":{"enabled":true,"address":"1"}}`, false, "invalid_value"},
	{"hello/cashless address out of range", ClassHello, helloHead + `"cashless":{"enabled":true,"address":3}}`, true, "invalid_value"},
	{"hello/cashless level overflow", ClassHello, helloHead + `"cashless":{"enabled":true,"address":1,"level":9223372036854775808}}`, false, "invalid_value"},
	{"hello/cashless enabled null", ClassHello, helloHead + `"cashless":{"enabled":null,"address":1}}`, false, "invalid_value"},
	{"hello/cashless enabled number", ClassHello, helloHead + `"cashless":{"enabled":1,"address":1}}`, false, "invalid_value"},
	{"hello/cashless unknown member", ClassHello, helloHead + `"cashless":{"enabled":true,"address":1,"mode":2}}`, false, "unknown_field"},
	{"hello/cashless missing address", ClassHello, helloHead + `"cashless":{"enabled":true}}`, false, "missing_field"},
	{"hello/cashless duplicate member", ClassHello, helloHead + `"cashless":{"enabled":true,"address":"x","address":1}}`, false, "invalid_value"},
	{"hello/cashless not an object", ClassHello, helloHead + `"cashless":[true,1]}`, false, "invalid_value"},
	{"hello/cashless null", ClassHello, helloHead + `"cashless":null}`, false, "invalid_value"},
	// encoding/json decodes both objects into the same struct: the level of
	// the first survives the second.
	{"hello/cashless repeated object", ClassHello, helloHead + `"cashless":{"enabled":true,"address":1,"level":2},"cashless":{"enabled":true,"address":1}}`, false, ""},

	{"cmd_res/accepted", ClassCommandResult, resultHead + `"status":"accepted","code":0}`, true, ""},
	{"cmd_res/succeeded with result", ClassCommandResult, resultHead + `"status":"succeeded","code":0,"msg":"config sent","result":{"hb_interval":60,"phone":"+79001234567","bus":"mdb"}}`, true, ""},
	{"cmd_res/all statuses", ClassCommandResult, resultHead + `"status":"in_progress","code":0}`, true, ""},
	{"cmd_res/failed", ClassCommandResult, resultHead + `"status":"failed","code":7,"msg":"timeout"}`, true, ""},
	{"cmd_res/result null", ClassCommandResult, resultHead + `"status":"succeeded","code":0,"result":null}`, true, ""},
	{"cmd_res/result spaced", ClassCommandResult, resultHead + "\"status\":\"succeeded\",\"code\":0,\"result\": {\n \"a\" : [ 1 , \"x y\" ] , \"b\" : {} }\n}", true, ""},
	{"cmd_res/result escapes", ClassCommandResult, resultHead + `"status":"succeeded","code":0,"result":{"a\"":"<\u2028>"}}`, true, ""},
	{"cmd_res/result empty object", ClassCommandResult, resultHead + `"status":"succeeded","code":0,"result":{}}`, true, ""},
	{"cmd_res/result array", ClassCommandResult, resultHead + `"status":"succeeded","code":0,"result":[1]}`, true, "invalid_value"},
	{"cmd_res/result string", ClassCommandResult, resultHead + `"status":"succeeded","code":0,"result":"ok"}`, true, "invalid_value"},
	{"cmd_res/result number", ClassCommandResult, resultHead + `"status":"succeeded","code":0,"result":1}`, true, "invalid_value"},
	{"cmd_res/result repeated", ClassCommandResult, resultHead + `"status":"succeeded","code":0,"result":{"a":1},"result":{"b":2}}`, false, ""},
	{"cmd_res/msg null", ClassCommandResult, resultHead + `"status":"accepted","code":0,"msg":null}`, true, ""},
	{"cmd_res/msg empty", ClassCommandResult, resultHead + `"status":"accepted","code":0,"msg":""}`, true, ""},
	{"cmd_res/msg unicode", ClassCommandResult, resultHead + `"status":"rejected","code":3,"msg":"нет связи с автоматом"}`, true, ""},
	{"cmd_res/msg escaped quote", ClassCommandResult, resultHead + `"status":"rejected","code":3,"msg":"a \"b\""}`, false, ""},
	{"cmd_res/msg escaped newline", ClassCommandResult, resultHead + `"status":"rejected","code":3,"msg":"a\nb"}`, false, "invalid_value"},
	{"cmd_res/msg C1 control", ClassCommandResult, resultHead + "\"status\":\"rejected\",\"code\":3,\"msg\":\"a\u0085b\"}", true, "invalid_value"},
	{"cmd_res/msg too long", ClassCommandResult, resultHead + `"status":"rejected","code":3,"msg":"` + strings.Repeat("x", 257) + `"}`, true, "invalid_value"},
	{"cmd_res/msg number", ClassCommandResult, resultHead + `"status":"rejected","code":3,"msg":5}`, false, "invalid_value"},
	{"cmd_res/status unknown", ClassCommandResult, resultHead + `"status":"done","code":0}`, true, "invalid_value"},
	{"cmd_res/status upper case", ClassCommandResult, resultHead + `"status":"ACCEPTED","code":0}`, true, "invalid_value"},
	{"cmd_res/status escaped", ClassCommandResult, resultHead + `"status":"accept\u0065d","code":0}`, false, ""},
	{"cmd_res/status null", ClassCommandResult, resultHead + `"status":null,"code":0}`, false, "invalid_value"},
	{"cmd_res/status repeated", ClassCommandResult, resultHead + `"status":"failed","status":"accepted","code":0}`, false, ""},
	{"cmd_res/code with accepted", ClassCommandResult, resultHead + `"status":"accepted","code":4}`, true, "invalid_value"},
	{"cmd_res/code zero with failed", ClassCommandResult, resultHead + `"status":"failed","code":0}`, true, "invalid_value"},
	{"cmd_res/code negative", ClassCommandResult, resultHead + `"status":"failed","code":-1}`, true, "invalid_value"},
	{"cmd_res/code minus zero", ClassCommandResult, resultHead + `"status":"accepted","code":-0}`, true, ""},
	{"cmd_res/code vendor", ClassCommandResult, resultHead + `"status":"failed","code":999}`, true, ""},
	{"cmd_res/code too big", ClassCommandResult, resultHead + `"status":"failed","code":1000}`, true, "invalid_value"},
	{"cmd_res/code overflow", ClassCommandResult, resultHead + `"status":"failed","code":9223372036854775808}`, false, "invalid_value"},
	{"cmd_res/code fraction", ClassCommandResult, resultHead + `"status":"accepted","code":0.0}`, false, "invalid_value"},
	{"cmd_res/code exponent", ClassCommandResult, resultHead + `"status":"failed","code":1e1}`, false, "invalid_value"},
	{"cmd_res/code string", ClassCommandResult, resultHead + `"status":"accepted","code":"0"}`, false, "invalid_value"},
	{"cmd_res/code null", ClassCommandResult, resultHead + `"status":"accepted","code":null}`, false, "invalid_value"},
	{"cmd_res/missing code", ClassCommandResult, resultHead + `"status":"accepted"}`, false, "missing_field"},
	{"cmd_res/cmd number", ClassCommandResult, `{"v":1,"id":"r-1","ts":1732560100100,"cmd":7,"status":"accepted","code":0}`, false, "invalid_value"},
	{"cmd_res/cmd invalid", ClassCommandResult, `{"v":1,"id":"r-1","ts":1732560100100,"cmd":"a b","status":"accepted","code":0}`, true, "invalid_value"},
	{"cmd_res/cmd escaped", ClassCommandResult, `{"v":1,"id":"r-1","ts":1732560100100,"cmd":"c\u002d1","status":"accepted","code":0}`, false, ""},
	{"cmd_res/id escaped", ClassCommandResult, `{"v":1,"id":"r\u002d1","ts":1732560100100,"cmd":"c-1","status":"accepted","code":0}`, false, ""},
	{"cmd_res/ts negative", ClassCommandResult, `{"v":1,"id":"r-1","ts":-1,"cmd":"c-1","status":"accepted","code":0}`, true, "invalid_value"},
	{"cmd_res/version string", ClassCommandResult, `{"v":"1","id":"r-1","ts":1,"cmd":"c-1","status":"accepted","code":0}`, false, "unsupported_version"},
	{"cmd_res/unknown field", ClassCommandResult, resultHead + `"status":"accepted","code":0,"Msg":"x"}`, false, "unknown_field"},
	{"cmd_res/whitespace", ClassCommandResult, " {\n \"v\" : 1 ,\t\"id\":\"r-1\", \"ts\":1 , \"cmd\" : \"c-1\", \"status\":\"accepted\" , \"code\" : 0 }\r\n", true, ""},
	{"cmd_res/too large", ClassCommandResult, resultHead + `"status":"succeeded","code":0,"result":{"a":"` + strings.Repeat("x", 16<<10) + `"}}`, false, "too_large"},
	{"cmd_res/trailing data", ClassCommandResult, resultHead + `"status":"accepted","code":0}{}`, false, "syntax"},
}

// resultHead begins a command result (the rest: status, code, ...).
const resultHead = `{"v":1,"id":"r0-01JDB6Z3K2Q9C0MMAND0000002","ts":1732560100100,"cmd":"01JDB6Z3K2Q9C0MMAND0000002",`

// fastTaken reports whether the fast path decodes b by itself.
func fastTaken(c Class, b []byte) bool {
	switch c {
	case ClassState:
		m, err := parseTop(c, b, stateFields)
		var s State
		return err == nil && fastState(m, &s)
	case ClassHello:
		m, err := parseTop(c, b, helloFields)
		if err != nil {
			return false
		}
		raw, _ := m.get("cashless")
		cm, err := parseNestedInto(nil, c, "cashless.", raw, cashlessFields, false)
		var h Hello
		return err == nil && fastHello(m, cm, &h)
	case ClassCommandResult:
		m, err := parseTop(c, b, resultFields)
		var r CommandResult
		return err == nil && fastCommandResult(m, &r)
	}
	return false
}

func TestFastStateHelloCommandResult(t *testing.T) {
	for _, tt := range fastCases {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.payload)
			checkFastSame(t, b)
			assert.Equal(t, tt.fast, fastTaken(tt.class, b), "fast path taken")
			v, err := Decode(tt.class, b)
			assert.Equal(t, tt.reason, reasonOrEmpty(err), "error %v", err)
			if err == nil {
				assert.Equal(t, tt.class, ClassOf(v))
			}
		})
	}
}

func reasonOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return Reason(err)
}

// The fast path gives what the encoding/json path gives, field by field,
// including the level a repeated cashless object leaves behind, and an
// empty caps array decodes as absent.
func TestFastHelloValues(t *testing.T) {
	h, err := DecodeHello([]byte(helloHead + cashless1 + `,"phone":"+7900","caps":["dispense","reset"]}`))
	require.NoError(t, err)
	assert.Equal(t, Hello{Header: Header{V: 1, ID: "h-1", TS: 1732560000000}, IMEI: "861234567890123", Firmware: "3.2.7",
		Phone: "+7900", Bus: BusMDB, Cashless: Cashless{Enabled: true, Address: 1, Level: 3}, HBInterval: 60,
		Caps: []string{"dispense", "reset"}}, h)

	h, err = DecodeHello([]byte(helloHead + `"cashless":{"enabled":true,"address":1,"level":2},"cashless":{"enabled":true,"address":1}}`))
	require.NoError(t, err)
	assert.Equal(t, 2, h.Cashless.Level)

	h, err = DecodeHello([]byte(helloHead + cashless1 + `,"caps":[]}`))
	require.NoError(t, err)
	assert.Nil(t, h.Caps)

	s, err := DecodeState([]byte(stateBase + `,"reason":"shutdown"}`))
	require.NoError(t, err)
	assert.Equal(t, State{Header: Header{V: 1, ID: "s-1", TS: 1732560000010}, Online: true, Epoch: 42, Reason: "shutdown"}, s)
}
