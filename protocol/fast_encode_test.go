package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fast command result decoder gives the value encoding/json gives,
// with Result compacted into its own memory (not the payload's).
func TestFastCommandResultValues(t *testing.T) {
	b := []byte(resultHead + `"status":"succeeded","code":0,"msg":"config sent","result": { "hb_interval" : 60 , "bus":"mdb" } }`)
	require.True(t, fastTaken(ClassCommandResult, b))
	r, err := DecodeCommandResult(b)
	require.NoError(t, err)
	want := CommandResult{Header: Header{V: 1, ID: "r0-01JDB6Z3K2Q9C0MMAND0000002", TS: 1732560100100},
		Cmd: "01JDB6Z3K2Q9C0MMAND0000002", Status: StatusSucceeded, Code: 0, Message: "config sent",
		Result: json.RawMessage(`{"hb_interval":60,"bus":"mdb"}`)}
	assert.Equal(t, want, r)
	for i := range b {
		b[i] = 'x'
	}
	assert.Equal(t, want, r, "the decoded result shares memory with the payload")

	r, err = DecodeCommandResult([]byte(resultHead + `"status":"accepted","code":0,"result":null}`))
	require.NoError(t, err)
	assert.Nil(t, r.Result)
}

// encodeJSONRef is what Encode did before the fast encoders: validate, then
// encoding/json, then the size check.
func encodeJSONRef(v any) ([]byte, error) {
	c := ClassOf(v)
	if c == ClassUnknown {
		return nil, newErr(c, "", ErrInvalidValue, fmt.Sprintf("%T is not a protocol message", v))
	}
	if err := validate(v); err != nil {
		return nil, err
	}
	b, err := encodeJSON(c, v)
	if err != nil {
		return nil, err
	}
	if max := MaxPayload(c); len(b) > max {
		return nil, newErr(c, "", ErrTooLarge, fmt.Sprintf("%d bytes, limit %d", len(b), max))
	}
	return b, nil
}

// marshalRef is encoding/json's encoding of v, compact, with EscapeHTML as
// html says.
func marshalRef(v any, html bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkEncodeSame holds appendCommandRequest to encoding/json, with and
// without HTML escaping, and Encode to its encoding/json version.
func checkEncodeSame(t *testing.T, r CommandRequest) {
	t.Helper()
	for _, html := range []bool{false, true} {
		want, werr := marshalRef(r, html)
		got, ok := appendCommandRequest(nil, &r, html)
		if werr != nil {
			if ok {
				t.Fatalf("%#v html %v: encoding/json refuses it (%v), fast gives %q", r, html, werr, got)
			}
			continue
		}
		if !ok || string(got) != string(want) {
			t.Fatalf("%#v html %v:\nfast %q (%v)\njson %q", r, html, got, ok, want)
		}
		// Appending keeps what dst holds.
		pre := []byte("prefix")
		got, ok = appendCommandRequest(pre, &r, html)
		if !ok || string(got) != "prefix"+string(want) {
			t.Fatalf("%#v html %v: appended to a prefix: %q", r, html, got)
		}
	}
	want, werr := encodeJSONRef(r)
	got, err := Encode(r)
	if !sameErr(err, werr) || string(got) != string(want) {
		t.Fatalf("Encode(%#v):\nfast %q %v\njson %q %v", r, got, err, want, werr)
	}
	gotp, err := Encode(&r)
	if !sameErr(err, werr) || string(gotp) != string(want) {
		t.Fatalf("Encode(&%#v):\nfast %q %v\njson %q %v", r, gotp, err, want, werr)
	}
	for _, n := range []int64{int64(r.V), r.TS, r.Exp} {
		if l := len(strconv.AppendInt(nil, n, 10)); decimalLen(n) != l {
			t.Fatalf("decimalLen(%d) = %d, want %d", n, decimalLen(n), l)
		}
	}
}

// Strings that exercise every escaping rule of encoding/json.
var encodeStrings = []string{
	"", "01JDB6Z3K2Q9C0MMAND0000002", "cashless_mode", `a"b\c/d`, "<script>&amp;</script>",
	"\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x1f\x20\x7f", "\u2028\u2029", "x\u2028y\u2029z\u202a", "é ü 日本 🙂",
	"\xff", "a\xfe\xffb", "\xe2\x80", "\xe2\x80\xa8\xe2\x80", "\xed\xa0\x80", "\xc0\xaf", "\u0085\u00a0", "\ufffd",
}

// Arguments: valid with and without whitespace, with characters that
// encoding/json escapes when compacting with HTML escaping, and invalid.
var encodeArgs = []string{
	``, `{"enabled":true}`, `{"number":7,"cup":true,"sugar":2,"discount":500}`,
	" {\n\t\"a\" : [ 1 , 2.5e-3 , true , null , \"x y\" ] ,\r\n \"b\" : { } } \n",
	`{"s":"<a href=\"x\">&amp;</a>","t":"\u2028\u003c"}`, "{\"s\":\"\u2028 \u2029 \u202f\"}", `{"s":"a\\\" b"}`,
	`[1, 2]`, `"str"`, ` 12 `, `null`, `{}`, "{\"\xff\":\"\xfe\"}",
	`{`, ` `, `{"a":1}x`, `{"a":1,}`, `nul`, "{\"a\":\"\x01\"}",
}

func TestEncodeCommandRequestSameAsEncodingJSON(t *testing.T) {
	base := CommandRequest{Header: Header{V: 1, ID: "01JDB6Z3K2Q9C0MMAND0000002", TS: 1732560100000},
		Name: CmdCashlessMode, Args: json.RawMessage(`{"enabled":true}`), Exp: 1732563700000}
	checkEncodeSame(t, base)
	for _, s := range encodeStrings {
		r := base
		r.ID = s
		checkEncodeSame(t, r)
		r = base
		r.Name = CommandName(s)
		checkEncodeSame(t, r)
	}
	for _, a := range encodeArgs {
		r := base
		r.Args = json.RawMessage(a)
		checkEncodeSame(t, r)
		r.Name = CmdReset
		checkEncodeSame(t, r)
	}
	for _, n := range []int64{0, 1, -1, 9, 10, -9, -10, 99, -99, 100, 1e18, -1e18, 1<<63 - 1, -1 << 63} {
		r := base
		r.V, r.TS, r.Exp = int(n), n, n
		checkEncodeSame(t, r)
	}
	r := base
	r.Args = nil
	r.Name = CmdReset
	checkEncodeSame(t, r)
	r.Args = json.RawMessage{}
	checkEncodeSame(t, r)

	// The golden requests encode the same way.
	for _, req := range goldenRequests(t) {
		checkEncodeSame(t, req)
	}
}

// goldenRequests are the valid golden command requests, decoded.
func goldenRequests(t testing.TB) []CommandRequest {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "cmd_req*.json"))
	require.NoError(t, err)
	var out []CommandRequest
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		r, err := DecodeCommandRequest(b)
		require.NoError(t, err, p)
		out = append(out, r)
	}
	require.NotEmpty(t, out)
	return out
}

func FuzzEncodeCommandRequest(f *testing.F) {
	for _, r := range goldenRequests(f) {
		f.Add(r.V, r.ID, r.TS, string(r.Name), []byte(r.Args), r.Exp, false)
	}
	for i, s := range encodeStrings {
		a := encodeArgs[i%len(encodeArgs)]
		f.Add(1, s, int64(1732560100000), "cashless_mode", []byte(a), int64(1732563700000), false)
		f.Add(1, "c-1", int64(1), s, []byte(a), int64(2), i%2 == 0)
	}
	for _, a := range encodeArgs {
		f.Add(1, "c-1", int64(1732560100000), "dispense", []byte(a), int64(1732563700000), false)
	}
	f.Add(-1, "", int64(-1<<63), "", []byte(nil), int64(1<<63-1), true)
	f.Fuzz(func(t *testing.T, v int, id string, ts int64, name string, args []byte, exp int64, nilArgs bool) {
		r := CommandRequest{Header: Header{V: v, ID: id, TS: ts}, Name: CommandName(name), Args: args, Exp: exp}
		if nilArgs && len(args) == 0 {
			r.Args = nil
		}
		checkEncodeSame(t, r)
	})
}

// Arguments around the edges of the typed fast path of decodeArgs.
var argsCases = []struct {
	name, args string
	reason     string // Reason of the error; "" when they decode
}{
	{"reset", "", ""},
	{"reset", "null", ""},
	{"reset", " { } ", ""},
	{"reset", `{"x":1}`, "unknown_field"},
	{"reset", `[]`, "invalid_value"},
	{"cashless_mode", `{"enabled":true}`, ""},
	{"cashless_mode", `{"enabled":false}`, ""},
	{"cashless_mode", `{"enabled":1}`, "invalid_value"},
	{"cashless_mode", `{"enabled":"true"}`, "invalid_value"},
	{"cashless_mode", `{"enabled":null}`, "invalid_value"},
	{"cashless_mode", `{"enabled":false,"enabled":true}`, ""},
	{"cashless_mode", `{"enabled":1,"enabled":true}`, "invalid_value"},
	{"cashless_mode", `{"Enabled":true}`, "unknown_field"},
	{"cashless_mode", `{}`, "missing_field"},
	{"cashless_mode", ``, "missing_field"},
	{"cashless_mode", `{"enabled":true`, "syntax"},
	{"cashless_address", `{"address":2}`, ""},
	{"cashless_address", `{"address":3}`, "invalid_value"},
	{"cashless_address", `{"address":2.0}`, "invalid_value"},
	{"cashless_address", `{"address":-0}`, "invalid_value"},
	{"cashless_address", `{"address":99999999999999999999}`, "invalid_value"},
	{"cashless_credit", `{"amount":10000,"auto_approve":true,"timeout":120}`, ""},
	{"cashless_credit", `{"amount":10000,"auto_approve":false,"vends":3,"timeout":null}`, ""},
	{"cashless_credit", `{"amount":0,"auto_approve":true}`, "invalid_value"},
	{"cashless_credit", `{"amount":1,"auto_approve":true,"vends":101}`, "invalid_value"},
	{"cashless_credit", `{"amount":1,"auto_approve":true,"timeout":1e2}`, "invalid_value"},
	{"cashless_credit", `{"amount":9223372036854775807,"auto_approve":true}`, ""},
	{"cashless_credit", `{"amount":9223372036854775808,"auto_approve":true}`, "invalid_value"},
	{"dispense", `{"number":7,"cup":true,"sugar":2,"discount":500}`, ""},
	{"dispense", ` { "number" : 0 , "cup" : false , "sugar" : 0 } `, ""},
	{"dispense", `{"number":7,"cup":true,"sugar":5}`, "invalid_value"},
	{"dispense", `{"number":7,"cup":"yes","sugar":2}`, "invalid_value"},
	{"dispense", `{"number":7,"cup":true,"sugar":2,"discount":-1}`, "invalid_value"},
	{"request", `{"report":false,"config":true}`, ""},
	{"request", `{"report":false,"config":false}`, "invalid_value"},
	{"request", `{"report":true}`, "missing_field"},
	{"set_config", `{"hb_interval":120}`, ""},
	{"set_config", `{"hb_interval":60,"phone":"+79001234567"}`, ""},
	{"set_config", `{"phone":""}`, ""},
	{"set_config", `{"phone":"+7\u0039"}`, ""},
	{"set_config", `{"phone":"\u00e9"}`, "invalid_value"},
	{"set_config", `{"phone":null}`, "invalid_value"},
	{"set_config", `{"hb_interval":null,"phone":"1"}`, ""},
	{"set_config", `{"hb_interval":0}`, "invalid_value"},
	{"set_config", `{"hb_interval":"60"}`, "invalid_value"},
	{"set_config", `{"phone":5}`, "invalid_value"},
	{"set_config", `{"phone":"1","phone":"2"}`, ""},
	{"fly", `{}`, "invalid_value"},
	{"", ``, "invalid_value"},
}

// checkArgsSame holds the typed args path to encoding/json: the same value
// or the same error, and checkArgs the same error.
func checkArgsSame(t *testing.T, name string, raw []byte) {
	t.Helper()
	vf, ef := decodeArgsAs(CommandName(name), raw, true, true)
	vs, es := decodeArgsAs(CommandName(name), raw, false, true)
	if !reflect.DeepEqual(vf, vs) || !sameErr(ef, es) {
		t.Fatalf("args %q %q:\nfast %#v %v\nslow %#v %v", name, raw, vf, ef, vs, es)
	}
	v, err := decodeArgsAs(CommandName(name), raw, true, false)
	if v != nil || !sameErr(err, es) {
		t.Fatalf("args %q %q: check only: %#v %v, want nil %v", name, raw, v, err, es)
	}
}

func TestFastArgs(t *testing.T) {
	for _, tt := range argsCases {
		t.Run(tt.name+" "+tt.args, func(t *testing.T) {
			checkArgsSame(t, tt.name, []byte(tt.args))
			_, err := CommandRequest{Name: CommandName(tt.name), Args: json.RawMessage(tt.args)}.DecodeArgs()
			assert.Equal(t, tt.reason, reasonOrEmpty(err), "error %v", err)
		})
	}
	a, err := decodeArgs(CmdSetConfig, json.RawMessage(`{"hb_interval":60,"phone":"+7"}`))
	require.NoError(t, err)
	hb, phone := 60, "+7"
	assert.Equal(t, SetConfigArgs{HBInterval: &hb, Phone: &phone}, a)
}

func FuzzFastArgs(f *testing.F) {
	for _, tt := range argsCases {
		f.Add(tt.name, []byte(tt.args))
	}
	for _, r := range goldenRequests(f) {
		f.Add(string(r.Name), []byte(r.Args))
	}
	f.Fuzz(func(t *testing.T, name string, args []byte) { checkArgsSame(t, name, args) })
}

// The hot paths allocate only what they return: the decoded strings of a
// result, the payload of a request. (Not under the race detector, which
// allocates on its own.)
func TestCommandAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	res := []byte(resultHead + `"status":"accepted","code":0}`)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := DecodeCommandResult(res); err != nil {
			t.Fatal(err)
		}
	}); n != 2 {
		t.Errorf("DecodeCommandResult: %v allocations, want 2 (id and cmd)", n)
	}
	for _, r := range goldenRequests(t) {
		want := 1.0 // the payload
		if r.Name == CmdSetConfig {
			want = 2 // and the hb_interval of the decoded arguments
		}
		if n := testing.AllocsPerRun(100, func() {
			if _, err := Encode(&r); err != nil {
				t.Fatal(err)
			}
		}); n != want {
			t.Errorf("Encode(%s): %v allocations, want %v", r.Name, n, want)
		}
	}
}
