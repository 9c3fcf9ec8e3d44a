package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// decodeObjectDecoder is decodeObject as it was before its Unmarshal fast
// path: the reference the fast path must agree with.
func decodeObjectDecoder(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return nil, errBadRequest("Request body must be a JSON object")
		}
		return nil, errBadRequest("Malformed JSON body")
	}
	if obj == nil {
		return nil, errBadRequest("Request body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errBadRequest("Malformed JSON body: trailing data")
	}
	return obj, nil
}

var decodeSeeds = []string{
	`{"cashless_mode":1}`, " {\"a\" : [1, {\"b\":\"\xff\"}]}\n\t ", `{}`, `null`, `[1]`, `1`, `"s"`, `{"a":1} {}`,
	`{"a":1}x`, `{"a":1,"a":2}`, `{"a":`, ``, ` `, `{"a":1}]`, "\ufeff{}", `{"a":"\u0000"}`, `{"a":1e999}`,
}

// requireDecodeAgrees checks decodeObject against the Decoder path: the same
// object, or the same error.
func requireDecodeAgrees(t testing.TB, data []byte) {
	t.Helper()
	want, wantErr := decodeObjectDecoder(data)
	got, gotErr := decodeObject(data)
	if wantErr != nil {
		require.Error(t, gotErr, "%q", data)
		require.Equal(t, wantErr.Error(), gotErr.Error(), "%q", data)
		return
	}
	require.NoError(t, gotErr, "%q", data)
	require.Equal(t, want, got, "%q", data)
}

func TestDecodeObjectMatchesDecoder(t *testing.T) {
	t.Parallel()
	for _, s := range decodeSeeds {
		t.Run(s, func(t *testing.T) { requireDecodeAgrees(t, []byte(s)) })
	}
}

func FuzzDecodeObject(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { requireDecodeAgrees(t, data) })
}

// FuzzQueryValue checks queryValue against url.ParseQuery(q).Get(key).
func FuzzQueryValue(f *testing.F) {
	for _, q := range []string{
		"", "wait=10", "wait=10&wait=20", "a=1&wait=3", "wait", "wait=", "=wait", "&&wait=5&",
		"wait=1;x=2", "x=1;y&wait=7", "w%61it=4", "wait=%31%32", "wait=1+2", "wait=%zz&wait=8",
		"wa%zzit=1&wait=9", "wait%3D1=2", "limit=50&wait=+10", "wait=a%26b", "a=b=c&wait=d=e",
	} {
		f.Add(q, "wait")
	}
	f.Add("limit=5", "limit")
	f.Add("=x", "")
	f.Fuzz(func(t *testing.T, q, key string) {
		want, _ := url.ParseQuery(q) // the pairs it could read, even on error
		require.Equal(t, want.Get(key), queryValue(q, key), "query %q key %q", q, key)
	})
}

// booleanReference is validator.boolean's JSON branch as it was before its
// first-byte guards: every decoding tried in turn.
func booleanReference(raw json.RawMessage) optBool {
	if isJSONNull(raw) {
		return optBool{Set: true, Null: true}
	}
	var b bool
	var s string
	var n json.Number
	text := ""
	switch {
	case json.Unmarshal(raw, &b) == nil:
		return optBool{Set: true, V: b}
	case json.Unmarshal(raw, &n) == nil:
		text = n.String()
	case json.Unmarshal(raw, &s) == nil:
		text = s
	default:
		text = "\x00"
	}
	if b, ok := parseBoolText(text); ok {
		return optBool{Set: true, V: b}
	}
	return optBool{}
}

// FuzzBooleanJSON checks validator.boolean against booleanReference on any
// bytes, valid JSON or not.
func FuzzBooleanJSON(f *testing.F) {
	for _, s := range []string{
		`true`, `false`, ` true`, "\n\tfalse ", `tru`, `1`, `0`, `-0`, `2`, `1.0`, `1e0`, `"1"`, `"0"`,
		`"true"`, `"False"`, `" 1 "`, `"x"`, `"`, `null`, ` null `, `[]`, `{}`, `[true]`, ``, ` `, `t`, `f`,
		`"\u0031"`, `01`, `-`, "\ufefftrue",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v := newValidator(&params{body: map[string]json.RawMessage{"f": raw}})
		got := v.boolean("f")
		require.Equal(t, booleanReference(raw), got, "%q", raw)
		require.Equal(t, !got.Set, v.failed("f"), "%q", raw)
	})
}

// TestReadBody checks readBody against io.ReadAll: any declared length, reads
// of any size, data with the end, an error after data.
func TestReadBody(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	for _, size := range []int{0, 1, 20, 511, 512, 513, 5000} {
		data := bytes.Repeat([]byte("x"), size)
		readers := map[string]func() io.Reader{
			"plain":      func() io.Reader { return bytes.NewReader(data) },
			"one byte":   func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
			"data + EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
			"error":      func() io.Reader { return io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errBoom)) },
		}
		for name, rd := range readers {
			for _, declared := range []int64{-1, 0, int64(size) / 2, int64(size), int64(size) + 7, 1 << 20} {
				want, wantErr := io.ReadAll(rd())
				got, gotErr := readBody(rd(), declared)
				require.Equal(t, wantErr, gotErr, "%s %d declared %d", name, size, declared)
				require.Equal(t, want, got, "%s %d declared %d", name, size, declared)
			}
		}
	}
}
