package protocol

import (
	"reflect"
	"testing"
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
	f.Fuzz(func(t *testing.T, b []byte) { checkFastSame(t, b) })
}
