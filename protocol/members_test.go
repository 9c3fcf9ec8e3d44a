package protocol

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// objectMembers must agree with encoding/json's map decoding on every input:
// the same error or not, the same names and the same raw values (last
// occurrence of a repeated name wins).
func checkMembersAgree(t *testing.T, b []byte) {
	t.Helper()
	got, err := objectMembers(b)
	if firstByte(b) != '{' {
		if err == nil {
			t.Fatalf("%q: not an object, yet no error", b)
		}
		return
	}
	var want map[string]json.RawMessage
	wantErr := json.Unmarshal(b, &want)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: objectMembers err %v, encoding/json err %v", b, err, wantErr)
	}
	if err != nil {
		if err.Error() != wantErr.Error() {
			t.Fatalf("%q: error %q, encoding/json says %q", b, err, wantErr)
		}
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d members, encoding/json %d", b, len(got), len(want))
	}
	for _, m := range got {
		w, ok := want[string(m.name)]
		if !ok {
			t.Fatalf("%q: member %q unknown to encoding/json", b, m.name)
		}
		if !bytes.Equal(m.raw, w) {
			t.Fatalf("%q: member %q = %s, encoding/json %s", b, m.name, m.raw, w)
		}
	}
}

var memberSeeds = []string{
	`{}`, ` { } `, `{"v":1}`, `{"v":1,"id":"a","ts":5}`, "{\n\t\"a\" : [1, {\"b\":\"}\"}] ,\"c\":null}\r\n",
	`{"a":"x\"y","b":{"c":[]}}`, `{"a":1,"a":2}`, `{"\u0076":1}`, `{"a\\b":true}`, `{"a":-1.5e3}`,
	`{"a":1}x`, `{"a":1`, `{"a"}`, `{,}`, `[1]`, `null`, `"s"`, `{"a":1,}`, `{"a":"\ud800"}`,
}

func TestObjectMembersAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range memberSeeds {
		checkMembersAgree(t, []byte(s))
	}
}

func FuzzObjectMembers(f *testing.F) {
	for _, s := range memberSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return // refused before (parseTop); encoding/json would rewrite it to U+FFFD
		}
		checkMembersAgree(t, b)
	})
}
