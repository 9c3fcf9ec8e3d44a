package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// field is one member of a JSON object of the contract. Required members are
// exactly those whose Go field has no omitempty, so what Encode emits always
// satisfies the presence check.
type field struct {
	name     string
	required bool
}

func req(names ...string) []field {
	f := make([]field, len(names))
	for i, n := range names {
		f[i] = field{n, true}
	}
	return f
}

func opt(names ...string) []field {
	f := make([]field, len(names))
	for i, n := range names {
		f[i] = field{n, false}
	}
	return f
}

func fields(groups ...[]field) []field { return slices.Concat(groups...) }

var headerFields = req("v", "id", "ts")

// Member sets per object (docs/protocol.md field tables).
var (
	helloFields = fields(headerFields,
		req("imei", "firmware", "bus", "cashless", "hb_interval"),
		opt("iccid", "hw_version", "boot_version", "phone", "caps"))
	cashlessFields  = fields(req("enabled", "address"), opt("level"))
	stateFields     = fields(headerFields, req("online", "epoch"), opt("reason"))
	heartbeatFields = fields(headerFields, req("uptime", "signal", "vm_link", "errors", "epoch"))
	eventFields     = fields(headerFields, req("code", "time"), opt("payload"))
	vendFields      = fields(headerFields, req("sel", "price", "payment", "type", "ok", "time"), opt("cmd"))
	auditFields     = fields(headerFields, req("port", "time", "data"), opt("enc", "cmd"))
	resultFields    = fields(headerFields, req("cmd", "status", "code"), opt("msg", "result"))
	requestFields   = fields(headerFields, req("name", "exp"), opt("args"))

	resetArgsFields           = []field(nil)
	cashlessModeArgsFields    = req("enabled")
	cashlessAddressArgsFields = req("address")
	cashlessCreditArgsFields  = fields(req("amount", "auto_approve"), opt("vends", "timeout"))
	dispenseArgsFields        = fields(req("number", "cup", "sugar"), opt("discount"))
	requestArgsFields         = req("report", "config")
	setConfigArgsFields       = opt("hb_interval", "phone")
)

// firstByte returns the first non-whitespace byte of b, or 0.
func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// member is one member of a JSON object: its name (unescaped) and raw value.
// dup records that the name occurred more than once: encoding/json decodes
// every occurrence into the same field, so an earlier occurrence can still
// fail the decode (wrong type) or leave a value behind (a nested object's
// member the last occurrence lacks); the fast decoders leave such objects
// to encoding/json.
type member struct {
	name []byte
	raw  json.RawMessage
	dup  bool
}

// members are an object's members, each name once (the last occurrence wins,
// as with encoding/json).
type members []member

func (ms members) get(name string) (json.RawMessage, bool) {
	for _, m := range ms {
		if string(m.name) == name {
			return m.raw, true
		}
	}
	return nil, false
}

// parseTop checks the size, parses b as exactly one JSON object, checks the
// version and the member set. The version is checked before the member set so
// that a message of a later version is reported as ErrVersion, not as an
// unknown field.
func parseTop(c Class, b []byte, spec []field) (members, error) {
	return parseTopInto(nil, c, b, spec)
}

// parseTopInto is parseTop appending the members to buf: the hot classes
// pass an array on their stack, which saves the members' allocation (about
// 600 bytes, a good part of an uplink's garbage).
func parseTopInto(buf members, c Class, b []byte, spec []field) (members, error) {
	if max := MaxPayload(c); len(b) > max {
		return nil, newErr(c, "", ErrTooLarge, fmt.Sprintf("%d bytes, limit %d", len(b), max))
	}
	if firstByte(b) != '{' {
		return nil, newErr(c, "", ErrSyntax, "not a JSON object")
	}
	// encoding/json would silently replace invalid UTF-8 with U+FFFD, which
	// changes the value (and its size) between decode and re-encode.
	if !utf8.Valid(b) {
		return nil, newErr(c, "", ErrSyntax, "not valid UTF-8")
	}
	m, err := objectMembersInto(buf, b)
	if err != nil {
		return nil, newErr(c, "", ErrSyntax, syntaxDetail(err))
	}
	v, ok := m.get("v")
	if !ok {
		return nil, newErr(c, "v", ErrMissingField, "")
	}
	if string(v) != "1" {
		return nil, newErr(c, "v", ErrVersion, fmt.Sprintf("got %s, want %d", clip(string(v)), Version))
	}
	if err := checkMembers(c, "", m, spec); err != nil {
		return nil, err
	}
	return m, nil
}

// objectMembers parses b, which must be exactly one JSON object (trailing
// data is a syntax error), into its members without copying them. It is the
// hot path of every uplink: one validation pass and one scan of the top
// level, where a map[string]json.RawMessage cost an allocation per member.
func objectMembers(b []byte) (members, error) { return objectMembersInto(nil, b) }

// objectMembersInto is objectMembers appending to buf (nil: a new slice).
func objectMembersInto(buf members, b []byte) (members, error) {
	if !json.Valid(b) {
		// The slow path, for its error: the same message encoding/json gives.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		return nil, errors.New("invalid JSON") // not reached: Valid and Unmarshal agree
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return nil, errors.New("not a JSON object") // callers check this first
	}
	ms := buf[:0]
	if ms == nil {
		ms = make(members, 0, 12)
	}
	i = skipSpace(b, i+1)
	for b[i] != '}' {
		ks := i
		i = skipString(b, i)
		name := b[ks+1 : i-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var u string
			if err := json.Unmarshal(b[ks:i], &u); err != nil {
				return nil, err
			}
			name = []byte(u)
		}
		i = skipSpace(b, i)
		i = skipSpace(b, i+1) // the ':'
		vs := i
		i = skipValue(b, i)
		ms = ms.set(name, b[vs:i])
		i = skipSpace(b, i)
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return ms, nil
}

// set adds a member or, for a repeated name, replaces its value.
func (ms members) set(name []byte, raw []byte) members {
	for i := range ms {
		if bytes.Equal(ms[i].name, name) {
			ms[i].raw = raw
			ms[i].dup = true
			return ms
		}
	}
	return append(ms, member{name: name, raw: raw})
}

// The skip functions walk JSON already known to be valid.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
		i++
	}
	return i
}

func syntaxDetail(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("offset %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// parseNested parses raw, a member already known to be valid JSON, as an
// object and checks its member set. Absent or null raw is treated as {} when
// nullOK, so required members are then reported missing.
func parseNested(c Class, prefix string, raw json.RawMessage, spec []field, nullOK bool) error {
	_, err := parseNestedInto(nil, c, prefix, raw, spec, nullOK)
	return err
}

// parseNestedInto is parseNested returning the members, appended to buf
// (nil: a new slice), for a fast decoder to read.
func parseNestedInto(buf members, c Class, prefix string, raw json.RawMessage, spec []field, nullOK bool) (members, error) {
	if nullOK && (len(raw) == 0 || string(raw) == "null") {
		raw = json.RawMessage("{}")
	}
	if firstByte(raw) != '{' {
		return nil, newErr(c, strings.TrimSuffix(prefix, "."), ErrInvalidValue, "not a JSON object")
	}
	m, err := objectMembersInto(buf, raw)
	if err != nil {
		return nil, newErr(c, strings.TrimSuffix(prefix, "."), ErrSyntax, syntaxDetail(err))
	}
	if err := checkMembers(c, prefix, m, spec); err != nil {
		return nil, err
	}
	return m, nil
}

// checkMembers refuses members not in spec (exact, case-sensitive names: the
// later struct decode of encoding/json would otherwise match case-insensitively)
// and required members that are absent or null.
func checkMembers(c Class, prefix string, m members, spec []field) error {
	if len(m) > len(spec) || !allKnown(m, spec) {
		var unknown []string
		for _, k := range m {
			if !hasField(spec, string(k.name)) {
				unknown = append(unknown, string(k.name))
			}
		}
		slices.Sort(unknown) // deterministic report when there are several
		return newErr(c, prefix+clip(unknown[0]), ErrUnknownField, "")
	}
	for _, f := range spec {
		if !f.required {
			continue
		}
		raw, ok := m.get(f.name)
		if !ok {
			return newErr(c, prefix+f.name, ErrMissingField, "")
		}
		if string(raw) == "null" {
			return newErr(c, prefix+f.name, ErrInvalidValue, "null for a required member")
		}
	}
	return nil
}

func allKnown(m members, spec []field) bool {
	for _, k := range m {
		if !hasField(spec, string(k.name)) {
			return false
		}
	}
	return true
}

func hasField(spec []field, name string) bool {
	for _, f := range spec {
		if f.name == name {
			return true
		}
	}
	return false
}

// unmarshal decodes b (already checked by parseTop/parseNested) into dst and
// turns JSON type mismatches into ErrInvalidValue with the member's path.
func unmarshal(c Class, prefix string, b []byte, dst any) error {
	err := json.Unmarshal(b, dst)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := strings.TrimPrefix(te.Field, "Header.")
		return newErr(c, prefix+f, ErrInvalidValue, fmt.Sprintf("got JSON %s, want %s", te.Value, te.Type))
	}
	return newErr(c, strings.TrimSuffix(prefix, "."), ErrSyntax, syntaxDetail(err))
}

// unmarshalNew is unmarshal into a new T: the encoding/json fallback of the
// fast decoders. Only this T escapes to the heap (unmarshal takes an any), so
// the fast path's value stays on the caller's stack.
func unmarshalNew[T any](c Class, b []byte) (T, error) {
	var v T
	err := unmarshal(c, "", b, &v)
	return v, err
}

// compactRaw normalises a free-form member: null becomes absent, anything else
// is compacted, so that a decoded value re-encodes to the same bytes.
func compactRaw(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw // not reachable for input already parsed; validation reports it
	}
	return buf.Bytes()
}

// DecodeHello decodes and validates a hello payload. The caller must check
// Hello.IMEI against the topic's IMEI (MatchTopic does).
func DecodeHello(b []byte) (Hello, error) { return decodeHello(b, true) }

// decodeHello is DecodeHello; fast false always uses encoding/json (the
// reference FuzzFastDecode compares with). Every hello of a fleet arrives
// within seconds of a gateway restart, so it takes the typed fast path too.
func decodeHello(b []byte, fast bool) (Hello, error) {
	var buf [16]member // the 13 members of a hello fit
	m, err := parseTopInto(buf[:0], ClassHello, b, helloFields)
	if err != nil {
		return Hello{}, err
	}
	cashless, _ := m.get("cashless")
	var cbuf [4]member
	cm, err := parseNestedInto(cbuf[:0], ClassHello, "cashless.", cashless, cashlessFields, false)
	if err != nil {
		return Hello{}, err
	}
	var h Hello
	if !fast || !fastHello(m, cm, &h) {
		if h, err = unmarshalNew[Hello](ClassHello, b); err != nil {
			return Hello{}, err
		}
	}
	if len(h.Caps) == 0 {
		h.Caps = nil
	}
	if err := validateHello(&h); err != nil {
		return Hello{}, err
	}
	return h, nil
}

// DecodeState decodes and validates a state payload (also the Last Will).
func DecodeState(b []byte) (State, error) { return decodeState(b, true) }

// decodeState is DecodeState; fast false always uses encoding/json.
func decodeState(b []byte, fast bool) (State, error) {
	var buf [8]member // the 6 members of a state fit
	m, err := parseTopInto(buf[:0], ClassState, b, stateFields)
	if err != nil {
		return State{}, err
	}
	var s State
	if !fast || !fastState(m, &s) {
		if s, err = unmarshalNew[State](ClassState, b); err != nil {
			return State{}, err
		}
	}
	if err := validateState(&s); err != nil {
		return State{}, err
	}
	return s, nil
}

// DecodeHeartbeat decodes and validates a heartbeat payload.
func DecodeHeartbeat(b []byte) (Heartbeat, error) { return decodeHeartbeat(b, true) }

// decodeHeartbeat is DecodeHeartbeat; fast false always uses encoding/json
// (the reference FuzzFastDecode compares with).
func decodeHeartbeat(b []byte, fast bool) (Heartbeat, error) {
	var buf [12]member
	m, err := parseTopInto(buf[:0], ClassHeartbeat, b, heartbeatFields)
	if err != nil {
		return Heartbeat{}, err
	}
	var h Heartbeat
	if !fast || !fastHeartbeat(m, &h) {
		if h, err = unmarshalNew[Heartbeat](ClassHeartbeat, b); err != nil {
			return Heartbeat{}, err
		}
	}
	if err := validateHeartbeat(&h); err != nil {
		return Heartbeat{}, err
	}
	return h, nil
}

// DecodeEvent decodes and validates an event payload. Payload is compacted;
// a null payload becomes nil.
func DecodeEvent(b []byte) (Event, error) { return decodeEvent(b, true) }

// decodeEvent is DecodeEvent; fast false always uses encoding/json.
func decodeEvent(b []byte, fast bool) (Event, error) {
	var buf [12]member
	m, err := parseTopInto(buf[:0], ClassEvent, b, eventFields)
	if err != nil {
		return Event{}, err
	}
	var e Event
	if !fast || !fastEvent(m, &e) {
		if e, err = unmarshalNew[Event](ClassEvent, b); err != nil {
			return Event{}, err
		}
	}
	e.Payload = compactRaw(e.Payload)
	if err := validateEvent(&e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// DecodeVend decodes and validates a vend payload.
func DecodeVend(b []byte) (Vend, error) {
	if _, err := parseTop(ClassVend, b, vendFields); err != nil {
		return Vend{}, err
	}
	var v Vend
	if err := unmarshal(ClassVend, "", b, &v); err != nil {
		return Vend{}, err
	}
	if err := validateVend(&v); err != nil {
		return Vend{}, err
	}
	return v, nil
}

// DecodeAudit decodes and validates an audit payload, including the base64
// of Data when Enc is "base64" and the decoded size. Use Audit.Text for the
// text itself.
func DecodeAudit(b []byte) (Audit, error) {
	if _, err := parseTop(ClassAudit, b, auditFields); err != nil {
		return Audit{}, err
	}
	var a Audit
	if err := unmarshal(ClassAudit, "", b, &a); err != nil {
		return Audit{}, err
	}
	if err := validateAudit(&a); err != nil {
		return Audit{}, err
	}
	return a, nil
}

// DecodeCommandResult decodes and validates a command result. The caller must
// check CommandResult.Cmd against the topic's command id (MatchTopic does).
// Result is compacted; a null result becomes nil.
func DecodeCommandResult(b []byte) (CommandResult, error) { return decodeCommandResult(b, true) }

// decodeCommandResult is DecodeCommandResult; fast false always uses
// encoding/json (the reference FuzzFastDecode compares with). Every command
// brings at least two results (accepted, then the outcome), so they take the
// typed fast path.
func decodeCommandResult(b []byte, fast bool) (CommandResult, error) {
	var buf [8]member // the 8 members of a result fit
	m, err := parseTopInto(buf[:0], ClassCommandResult, b, resultFields)
	if err != nil {
		return CommandResult{}, err
	}
	var r CommandResult
	if !fast || !fastCommandResult(m, &r) {
		if r, err = unmarshalNew[CommandResult](ClassCommandResult, b); err != nil {
			return CommandResult{}, err
		}
	}
	r.Result = compactRaw(r.Result)
	if err := validateCommandResult(&r); err != nil {
		return CommandResult{}, err
	}
	return r, nil
}

// DecodeCommandRequest decodes and validates a command request, including its
// arguments (see CommandRequest.DecodeArgs). The caller must check the
// request's ID against the topic's command id (MatchTopic does). Args is
// compacted; null args become nil.
func DecodeCommandRequest(b []byte) (CommandRequest, error) {
	if _, err := parseTop(ClassCommandRequest, b, requestFields); err != nil {
		return CommandRequest{}, err
	}
	var r CommandRequest
	if err := unmarshal(ClassCommandRequest, "", b, &r); err != nil {
		return CommandRequest{}, err
	}
	r.Args = compactRaw(r.Args)
	if err := validateCommandRequest(&r); err != nil {
		return CommandRequest{}, err
	}
	return r, nil
}

// Decode decodes a payload of class c (told by its topic) and returns the
// value type: Hello, State, Heartbeat, Event, Vend, Audit, CommandResult or
// CommandRequest; nil on error. ClassUnknown gives ErrTopic.
func Decode(c Class, b []byte) (any, error) {
	switch c {
	case ClassHello:
		return boxed(DecodeHello(b))
	case ClassState:
		return boxed(DecodeState(b))
	case ClassHeartbeat:
		return boxed(DecodeHeartbeat(b))
	case ClassEvent:
		return boxed(DecodeEvent(b))
	case ClassVend:
		return boxed(DecodeVend(b))
	case ClassAudit:
		return boxed(DecodeAudit(b))
	case ClassCommandResult:
		return boxed(DecodeCommandResult(b))
	case ClassCommandRequest:
		return boxed(DecodeCommandRequest(b))
	}
	return nil, newErr(c, "", ErrTopic, "no message class")
}

// boxed returns a nil interface on error, so callers cannot mistake a zero
// message for a decoded one.
func boxed[T any](v T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// DecodeArgs decodes and validates the request's arguments by Name and
// returns the value type: ResetArgs, CashlessModeArgs, CashlessAddressArgs,
// CashlessCreditArgs, DispenseArgs, RequestArgs or SetConfigArgs. Absent or
// null args count as {} (so only "reset" may omit them). Errors are
// *DecodeError of ClassCommandRequest with Field "name" or "args[.member]".
func (r CommandRequest) DecodeArgs() (any, error) {
	return decodeArgs(r.Name, r.Args)
}

func decodeArgs(name CommandName, raw json.RawMessage) (any, error) {
	return decodeArgsAs(name, raw, true, true)
}

// checkArgs is decodeArgs without the value, for validateCommandRequest
// (which Encode and NewCommandRequest run on every command): it saves
// boxing the arguments.
func checkArgs(name CommandName, raw json.RawMessage) error {
	_, err := decodeArgsAs(name, raw, true, false)
	return err
}

// decodeArgsAs is decodeArgs; fast false always decodes with encoding/json
// (the reference FuzzFastArgs compares with), box false returns a nil value
// (validation only).
func decodeArgsAs(name CommandName, raw json.RawMessage, fast, box bool) (any, error) {
	const c = ClassCommandRequest
	var spec []field
	switch name {
	case CmdReset:
		spec = resetArgsFields
	case CmdCashlessMode:
		spec = cashlessModeArgsFields
	case CmdCashlessAddress:
		spec = cashlessAddressArgsFields
	case CmdCashlessCredit:
		spec = cashlessCreditArgsFields
	case CmdDispense:
		spec = dispenseArgsFields
	case CmdRequest:
		spec = requestArgsFields
	case CmdSetConfig:
		spec = setConfigArgsFields
	default:
		return nil, newErr(c, "name", ErrInvalidValue, fmt.Sprintf("unknown command %q", clip(string(name))))
	}
	if len(raw) == 0 || string(raw) == "null" {
		raw = noArgs
	}
	if !json.Valid(raw) {
		return nil, newErr(c, "args", ErrSyntax, "not valid JSON")
	}
	var buf [4]member // the most members of any arguments: cashless_credit's and dispense's 4
	m, err := parseNestedInto(buf[:0], c, "args.", raw, spec, true)
	if err != nil {
		return nil, err
	}
	// The typed reads of fast.go take plain values; anything else clears
	// f.ok (as does !fast from the start) and leaves the value to
	// encoding/json, which also words the type errors.
	f := plain{ms: m, ok: fast}
	switch name {
	case CmdReset:
		a := ResetArgs{}
		if !f.ok {
			if a, err = unmarshalArgs[ResetArgs](raw); err != nil {
				return nil, err
			}
		}
		return boxArgs(box, a, nil)
	case CmdCashlessMode:
		var a CashlessModeArgs
		f.boolean("enabled", &a.Enabled)
		if !f.ok {
			if a, err = unmarshalArgs[CashlessModeArgs](raw); err != nil {
				return nil, err
			}
		}
		return boxArgs(box, a, nil)
	case CmdCashlessAddress:
		var a CashlessAddressArgs
		f.intField("address", &a.Address)
		if !f.ok {
			if a, err = unmarshalArgs[CashlessAddressArgs](raw); err != nil {
				return nil, err
			}
		}
		return boxArgs(box, a, validateCashlessAddressArgs(&a))
	case CmdCashlessCredit:
		var a CashlessCreditArgs
		f.i64("amount", &a.Amount)
		f.boolean("auto_approve", &a.AutoApprove)
		f.intField("vends", &a.Vends)
		f.intField("timeout", &a.Timeout)
		if !f.ok {
			if a, err = unmarshalArgs[CashlessCreditArgs](raw); err != nil {
				return nil, err
			}
		}
		return boxArgs(box, a, validateCashlessCreditArgs(&a))
	case CmdDispense:
		var a DispenseArgs
		f.intField("number", &a.Number)
		f.boolean("cup", &a.Cup)
		f.intField("sugar", &a.Sugar)
		f.i64("discount", &a.Discount)
		if !f.ok {
			if a, err = unmarshalArgs[DispenseArgs](raw); err != nil {
				return nil, err
			}
		}
		return boxArgs(box, a, validateDispenseArgs(&a))
	case CmdRequest:
		var a RequestArgs
		f.boolean("report", &a.Report)
		f.boolean("config", &a.Config)
		if !f.ok {
			if a, err = unmarshalArgs[RequestArgs](raw); err != nil {
				return nil, err
			}
		}
		return boxArgs(box, a, validateRequestArgs(&a))
	default: // CmdSetConfig
		var a SetConfigArgs
		f.setConfig(&a)
		if !f.ok {
			if a, err = unmarshalArgs[SetConfigArgs](raw); err != nil {
				return nil, err
			}
		}
		return boxArgs(box, a, validateSetConfigArgs(&a))
	}
}

// noArgs stands for absent or null arguments; read only.
var noArgs = json.RawMessage("{}")

// unmarshalArgs decodes raw, arguments already checked by parseNested, into
// a new T with encoding/json: the fallback of decodeArgsAs. As with
// unmarshalNew, only this T escapes to the heap.
func unmarshalArgs[T any](raw json.RawMessage) (T, error) {
	var v T
	err := unmarshal(ClassCommandRequest, "args.", raw, &v)
	return v, err
}

// boxArgs returns a, boxed when box is set, or err.
func boxArgs[T any](box bool, a T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if !box {
		return nil, nil
	}
	return a, nil
}

// DecodeMessage is the whole receive path of one MQTT message: ParseTopic,
// Decode by the topic's class, then MatchTopic. It returns the parsed topic
// even when the payload is refused (for logging and metrics by class).
func DecodeMessage(topic string, payload []byte) (Topic, any, error) {
	t, err := ParseTopic(topic)
	if err != nil {
		return Topic{}, nil, err
	}
	v, err := Decode(t.Class, payload)
	if err != nil {
		return t, nil, err
	}
	if err := MatchTopic(t, v); err != nil {
		return t, nil, err
	}
	return t, v, nil
}
