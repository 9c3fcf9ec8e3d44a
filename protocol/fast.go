package protocol

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// plain reads the members of an object already checked by parseTop into
// typed values without encoding/json's reflection, for the hot uplink
// classes (heartbeat, event). It only takes plain values: a string without
// escapes, an integer without fraction or exponent that fits, true or false.
// Anything else clears ok, and the caller decodes the whole payload with
// encoding/json instead, which also words every error exactly as before
// (FuzzFastDecode holds the two paths equal).
type plain struct {
	ms members
	ok bool
}

func (f *plain) raw(name string) (json.RawMessage, bool) {
	if !f.ok {
		return nil, false
	}
	return f.ms.get(name)
}

func (f *plain) str(name string, dst *string) {
	r, present := f.raw(name)
	if !present {
		return
	}
	if len(r) < 2 || r[0] != '"' || bytes.IndexByte(r, '\\') >= 0 {
		f.ok = false
		return
	}
	*dst = string(r[1 : len(r)-1])
}

// digits reports whether r is an optional minus and decimal digits only.
func digits(r []byte, signed bool) bool {
	if signed && len(r) > 0 && r[0] == '-' {
		r = r[1:]
	}
	if len(r) == 0 {
		return false
	}
	for _, c := range r {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (f *plain) int(name string, bits int) (int64, bool) {
	r, present := f.raw(name)
	if !present {
		return 0, false
	}
	if !digits(r, true) {
		f.ok = false
		return 0, false
	}
	v, err := strconv.ParseInt(string(r), 10, bits)
	if err != nil {
		f.ok = false
		return 0, false
	}
	return v, true
}

func (f *plain) uint(name string, bits int) (uint64, bool) {
	r, present := f.raw(name)
	if !present {
		return 0, false
	}
	if !digits(r, false) {
		f.ok = false
		return 0, false
	}
	v, err := strconv.ParseUint(string(r), 10, bits)
	if err != nil {
		f.ok = false
		return 0, false
	}
	return v, true
}

func (f *plain) i64(name string, dst *int64) {
	if v, ok := f.int(name, 64); ok {
		*dst = v
	}
}

func (f *plain) boolean(name string, dst *bool) {
	r, present := f.raw(name)
	if !present {
		return
	}
	switch string(r) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		f.ok = false
	}
}

func (f *plain) header(h *Header) {
	if v, ok := f.int("v", strconv.IntSize); ok {
		h.V = int(v)
	}
	f.str("id", &h.ID)
	f.i64("ts", &h.TS)
}

// fastHeartbeat fills h from ms; false: use encoding/json.
func fastHeartbeat(ms members, h *Heartbeat) bool {
	f := plain{ms: ms, ok: true}
	f.header(&h.Header)
	f.i64("uptime", &h.Uptime)
	if v, ok := f.int("signal", strconv.IntSize); ok {
		h.Signal = int(v)
	}
	f.boolean("vm_link", &h.VMLink)
	if v, ok := f.uint("errors", 32); ok {
		h.Errors = uint32(v)
	}
	if v, ok := f.uint("epoch", 64); ok {
		h.Epoch = v
	}
	return f.ok
}

// fastEvent fills e from ms (Payload still to be compacted); false: use
// encoding/json.
func fastEvent(ms members, e *Event) bool {
	f := plain{ms: ms, ok: true}
	f.header(&e.Header)
	f.str("code", &e.Code)
	f.i64("time", &e.Time)
	if r, present := f.raw("payload"); present {
		e.Payload = r // compactRaw copies it (or drops a null)
	}
	return f.ok
}
