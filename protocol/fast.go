package protocol

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// plain reads the members of an object already checked by parseTop into
// typed values without encoding/json's reflection, for the hot uplink
// classes (heartbeat and event in normal traffic; state and hello, which
// every modem sends after a connect, in a reconnect storm). It only takes
// plain values: a string without escapes, an integer without fraction or
// exponent that fits, true or false, an array of such strings, and null for
// an optional member (encoding/json leaves the field zero). Anything else,
// and any member whose name occurs twice, clears ok, and the caller decodes
// the whole payload with encoding/json instead, which also words every error
// exactly as before (FuzzFastDecode holds the two paths equal).
type plain struct {
	ms members
	ok bool
}

// raw returns the member's value; absent (false) when ok is already clear,
// or when the name occurs twice (which clears ok).
func (f *plain) raw(name string) (json.RawMessage, bool) {
	if !f.ok {
		return nil, false
	}
	for i := range f.ms {
		if string(f.ms[i].name) == name {
			if f.ms[i].dup {
				f.ok = false
				return nil, false
			}
			return f.ms[i].raw, true
		}
	}
	return nil, false
}

// value returns the member's value unless it is absent or null. checkMembers
// has refused a null required member, so a null here is an optional one,
// which encoding/json skips.
func (f *plain) value(name string) (json.RawMessage, bool) {
	r, present := f.raw(name)
	if !present || string(r) == "null" {
		return nil, false
	}
	return r, true
}

// plainString returns the contents of r if r is a JSON string without
// escapes (its bytes are then the value: the payload is valid UTF-8).
func plainString(r []byte) ([]byte, bool) {
	if len(r) < 2 || r[0] != '"' || bytes.IndexByte(r, '\\') >= 0 {
		return nil, false
	}
	return r[1 : len(r)-1], true
}

func (f *plain) str(name string, dst *string) {
	f.enum(name, dst, nil)
}

// enum is str for a member with a closed set of values: a known value is
// taken from known instead of being allocated.
func (f *plain) enum(name string, dst *string, known []string) {
	r, ok := f.value(name)
	if !ok {
		return
	}
	s, ok := plainString(r)
	if !ok {
		f.ok = false
		return
	}
	*dst = intern(s, known)
}

// intern returns the member of known equal to s, else a copy of s.
func intern(s []byte, known []string) string {
	for _, k := range known {
		if string(s) == k {
			return k
		}
	}
	return string(s)
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
	r, ok := f.value(name)
	if !ok {
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
	r, ok := f.value(name)
	if !ok {
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

func (f *plain) intField(name string, dst *int) {
	if v, ok := f.int(name, strconv.IntSize); ok {
		*dst = int(v)
	}
}

func (f *plain) boolean(name string, dst *bool) {
	r, ok := f.value(name)
	if !ok {
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

// nextString reads the array element at r[i] (after whitespace), which must
// be a plain string, and returns it and the index after the following ','
// or at the closing ']'. r is a valid JSON array.
func nextString(r []byte, i int) (s []byte, next int, ok bool) {
	if r[i] != '"' {
		return nil, 0, false
	}
	end := skipString(r, i)
	if s, ok = plainString(r[i:end]); !ok {
		return nil, 0, false
	}
	next = skipSpace(r, end)
	if r[next] == ',' {
		next = skipSpace(r, next+1)
	}
	return s, next, true
}

// strs reads an array of plain strings, taking known values from known.
// It counts the elements first so the slice is allocated once, at its size.
func (f *plain) strs(name string, dst *[]string, known []string) {
	r, ok := f.value(name)
	if !ok {
		return
	}
	if r[0] != '[' {
		f.ok = false
		return
	}
	first := skipSpace(r, 1)
	n := 0
	for i := first; r[i] != ']'; n++ {
		if _, i, ok = nextString(r, i); !ok {
			f.ok = false
			return
		}
	}
	out := make([]string, n)
	for k, i := 0, first; k < n; k++ {
		var s []byte
		s, i, _ = nextString(r, i)
		out[k] = intern(s, known)
	}
	*dst = out
}

func (f *plain) header(h *Header) {
	f.intField("v", &h.V)
	f.str("id", &h.ID)
	f.i64("ts", &h.TS)
}

// fastHeartbeat fills h from ms; false: use encoding/json.
func fastHeartbeat(ms members, h *Heartbeat) bool {
	f := plain{ms: ms, ok: true}
	f.header(&h.Header)
	f.i64("uptime", &h.Uptime)
	f.intField("signal", &h.Signal)
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

// fastState fills s from ms; false: use encoding/json.
func fastState(ms members, s *State) bool {
	f := plain{ms: ms, ok: true}
	f.header(&s.Header)
	f.boolean("online", &s.Online)
	if v, ok := f.uint("epoch", 64); ok {
		s.Epoch = v
	}
	f.enum("reason", &s.Reason, knownReasons)
	return f.ok
}

// Closed value sets interned by the fast path: a hello's bus and caps, and
// the usual reasons of a state (docs/protocol.md), cost no allocation.
var (
	knownReasons  = []string{"lwt", "shutdown", "reboot"}
	knownBuses    = []string{string(BusNone), string(BusMDB), string(BusEXE)}
	knownCommands = []string{string(CmdReset), string(CmdCashlessMode), string(CmdCashlessAddress),
		string(CmdCashlessCredit), string(CmdDispense), string(CmdRequest), string(CmdSetConfig)}
)

// fastHello fills h from ms and cm, the members of its cashless object
// (parsed and checked by parseNested); false: use encoding/json.
func fastHello(ms, cm members, h *Hello) bool {
	f := plain{ms: ms, ok: true}
	f.header(&h.Header)
	f.str("imei", &h.IMEI)
	f.str("iccid", &h.ICCID)
	f.str("hw_version", &h.HWVersion)
	f.str("boot_version", &h.BootVersion)
	f.str("firmware", &h.Firmware)
	f.str("phone", &h.Phone)
	f.enum("bus", (*string)(&h.Bus), knownBuses)
	f.raw("cashless") // a repeated cashless object clears ok; cm is its last occurrence
	f.intField("hb_interval", &h.HBInterval)
	f.strs("caps", &h.Caps, knownCommands)
	if !f.ok {
		return false
	}
	c := plain{ms: cm, ok: true}
	c.boolean("enabled", &h.Cashless.Enabled)
	c.intField("address", &h.Cashless.Address)
	c.intField("level", &h.Cashless.Level)
	return c.ok
}

// knownStatuses are the v1 result statuses, interned by fastCommandResult.
var knownStatuses = []string{string(StatusAccepted), string(StatusInProgress), string(StatusSucceeded),
	string(StatusFailed), string(StatusRejected), string(StatusExpired)}

// fastCommandResult fills r from ms (Result still to be compacted); false:
// use encoding/json.
func fastCommandResult(ms members, r *CommandResult) bool {
	f := plain{ms: ms, ok: true}
	f.header(&r.Header)
	f.str("cmd", &r.Cmd)
	f.enum("status", (*string)(&r.Status), knownStatuses)
	f.intField("code", &r.Code)
	f.str("msg", &r.Message)
	if raw, present := f.raw("result"); present {
		r.Result = raw // compactRaw copies it (or drops a null)
	}
	return f.ok
}

// setConfig reads the arguments of set_config: a member that is absent or
// null leaves its pointer nil, as with encoding/json.
func (f *plain) setConfig(a *SetConfigArgs) {
	if v, ok := f.int("hb_interval", strconv.IntSize); ok {
		n := int(v)
		a.HBInterval = &n
	}
	if r, ok := f.value("phone"); ok {
		s, ok := plainString(r)
		if !ok {
			f.ok = false
			return
		}
		p := string(s)
		a.Phone = &p
	}
}
