package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodedValid returns the decoded valid payload of class c.
func decodedValid(t *testing.T, c Class) any {
	t.Helper()
	v, err := Decode(c, mustJSON(t, validObj(c)))
	require.NoError(t, err)
	return v
}

// ptrTo returns a pointer to a copy of message value v.
func ptrTo(v any) any {
	switch x := v.(type) {
	case Hello:
		return &x
	case State:
		return &x
	case Heartbeat:
		return &x
	case Event:
		return &x
	case Vend:
		return &x
	case Audit:
		return &x
	case CommandResult:
		return &x
	case CommandRequest:
		return &x
	}
	return nil
}

func TestEncodeRoundTrip(t *testing.T) {
	for c := ClassHello; c <= ClassCommandRequest; c++ {
		t.Run(c.String(), func(t *testing.T) {
			v := decodedValid(t, c)
			for _, in := range []any{v, ptrTo(v)} {
				b, err := Encode(in)
				require.NoError(t, err)
				back, err := Decode(c, b)
				require.NoError(t, err)
				assert.Equal(t, v, back)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	hb := Heartbeat{Header: Header{V: 1, ID: "h", TS: 1}, Signal: 10}
	bigPayload := json.RawMessage(`{"x":"` + strings.Repeat("a", MaxPayload(ClassEvent)) + `"}`)
	tests := []struct {
		name  string
		v     any
		err   error
		class Class
		field string
	}{
		{"not a message", 42, ErrInvalidValue, ClassUnknown, ""},
		{"nil pointer", (*Heartbeat)(nil), ErrInvalidValue, ClassUnknown, ""},
		{"args are not a message", DispenseArgs{}, ErrInvalidValue, ClassUnknown, ""},
		{"zero version", Heartbeat{Header: Header{ID: "h", TS: 1}}, ErrVersion, ClassHeartbeat, "v"},
		{"bad signal", func() any { h := hb; h.Signal = 50; return h }(), ErrInvalidValue, ClassHeartbeat, "signal"},
		{"bad id pointer", &Heartbeat{Header: Header{V: 1, ID: "a b", TS: 1}}, ErrInvalidValue, ClassHeartbeat, "id"},
		{"hello without imei", Hello{Header: Header{V: 1, ID: "h", TS: 1}, Firmware: "1", Bus: BusNone, HBInterval: 60}, ErrInvalidValue, ClassHello, "imei"},
		{"event payload string", Event{Header: Header{V: 1, ID: "e", TS: 1}, Code: "X", Time: 1, Payload: json.RawMessage(`"s"`)}, ErrInvalidValue, ClassEvent, "payload"},
		{"event payload broken", Event{Header: Header{V: 1, ID: "e", TS: 1}, Code: "X", Time: 1, Payload: json.RawMessage(`{`)}, ErrInvalidValue, ClassEvent, "payload"},
		{"event payload invalid utf-8", Event{Header: Header{V: 1, ID: "e", TS: 1}, Code: "X", Time: 1, Payload: json.RawMessage("{\"a\":\"\xff\"}")}, ErrInvalidValue, ClassEvent, "payload"},
		{"event too large", Event{Header: Header{V: 1, ID: "e", TS: 1}, Code: "X", Time: 1, Payload: bigPayload}, ErrTooLarge, ClassEvent, ""},
		{"audit text too large", Audit{Header: Header{V: 1, ID: "a", TS: 1}, Port: 1, Time: 1, Data: strings.Repeat("x", MaxAuditText+1)}, ErrTooLarge, ClassAudit, "data"},
		{"request bad args", CommandRequest{Header: Header{V: 1, ID: "c", TS: 1}, Name: CmdCashlessAddress, Exp: 2, Args: json.RawMessage(`{"address":9}`)}, ErrInvalidValue, ClassCommandRequest, "args.address"},
		{"result success with code", CommandResult{Header: Header{V: 1, ID: "r", TS: 1}, Cmd: "c", Status: StatusSucceeded, Code: CodeBusy}, ErrInvalidValue, ClassCommandResult, "code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.v)
			require.ErrorIs(t, err, tc.err)
			assert.Nil(t, b)
			var de *DecodeError
			require.True(t, errors.As(err, &de))
			assert.Equal(t, tc.class, de.Class)
			assert.Equal(t, tc.field, de.Field)
		})
	}
}

func TestEncodeNoHTMLEscape(t *testing.T) {
	e := Event{Header: Header{V: 1, ID: "e", TS: 1}, Code: "X", Time: 1, Payload: json.RawMessage(`{"a": "<b>&"}`)}
	b, err := Encode(e)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"payload":{"a":"<b>&"}`)
	assert.False(t, strings.HasSuffix(string(b), "\n"))
}

func TestNewCommandRequest(t *testing.T) {
	ts := time.UnixMilli(testTS)
	exp := ts.Add(time.Hour)
	hb := 30
	good := []struct {
		name CommandName
		args any
		want string
	}{
		{CmdReset, nil, ``},
		{CmdReset, ResetArgs{}, `{}`},
		{CmdCashlessMode, CashlessModeArgs{Enabled: true}, `{"enabled":true}`},
		{CmdCashlessAddress, &CashlessAddressArgs{Address: 1}, `{"address":1}`},
		{CmdCashlessCredit, CashlessCreditArgs{Amount: 100}, `{"amount":100,"auto_approve":false}`},
		{CmdDispense, DispenseArgs{Number: 5, Cup: true}, `{"number":5,"cup":true,"sugar":0}`},
		{CmdRequest, RequestArgs{Report: true}, `{"report":true,"config":false}`},
		{CmdSetConfig, SetConfigArgs{HBInterval: &hb}, `{"hb_interval":30}`},
	}
	for _, tc := range good {
		t.Run(string(tc.name), func(t *testing.T) {
			r, err := NewCommandRequest("c-1", tc.name, tc.args, ts, exp)
			require.NoError(t, err)
			assert.Equal(t, CommandRequest{Header: Header{V: Version, ID: "c-1", TS: testTS}, Name: tc.name,
				Args: rawOrNil(tc.want), Exp: testTS + 3600000}, r)
			b, err := Encode(r)
			require.NoError(t, err)
			back, err := DecodeCommandRequest(b)
			require.NoError(t, err)
			assert.Equal(t, r, back)
			args, err := back.DecodeArgs()
			require.NoError(t, err)
			if tc.args != nil {
				assert.Equal(t, derefArgs(tc.args), args)
			}
		})
	}

	bad := []struct {
		name  string
		id    string
		cmd   CommandName
		args  any
		exp   time.Time
		err   error
		field string
	}{
		{"wrong args type", "c", CmdDispense, CashlessModeArgs{}, exp, ErrInvalidValue, "args"},
		{"not args", "c", CmdDispense, 5, exp, ErrInvalidValue, "args"},
		{"missing args", "c", CmdDispense, nil, exp, ErrMissingField, "args.number"},
		{"invalid args", "c", CmdCashlessCredit, CashlessCreditArgs{}, exp, ErrInvalidValue, "args.amount"},
		{"unknown command", "c", "fly", nil, exp, ErrInvalidValue, "name"},
		{"bad id", "c/1", CmdReset, nil, exp, ErrInvalidValue, "id"},
		{"expired", "c", CmdReset, nil, ts, ErrInvalidValue, "exp"},
		{"empty set_config", "c", CmdSetConfig, SetConfigArgs{}, exp, ErrInvalidValue, "args"},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			_, err := NewCommandRequest(tc.id, tc.cmd, tc.args, ts, tc.exp)
			require.ErrorIs(t, err, tc.err)
			var de *DecodeError
			require.True(t, errors.As(err, &de))
			assert.Equal(t, tc.field, de.Field)
		})
	}
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func derefArgs(a any) any {
	if p, ok := a.(*CashlessAddressArgs); ok {
		return *p
	}
	return a
}

func TestMatchTopic(t *testing.T) {
	hello := decodedValid(t, ClassHello).(Hello)
	res := decodedValid(t, ClassCommandResult).(CommandResult)
	req := decodedValid(t, ClassCommandRequest).(CommandRequest)
	hb := decodedValid(t, ClassHeartbeat).(Heartbeat)
	other := "861234567890124"
	tests := []struct {
		name  string
		topic string
		v     any
		field string // "" = match
		fail  bool
	}{
		{"hello ok", TopicFor(testIMEI, ClassHello), hello, "", false},
		{"hello pointer ok", TopicFor(testIMEI, ClassHello), &hello, "", false},
		{"hello other imei", TopicFor(other, ClassHello), hello, "imei", true},
		{"hb ok", TopicFor(other, ClassHeartbeat), hb, "", false},
		{"hb on vend topic", TopicFor(testIMEI, ClassVend), hb, "", true},
		{"result ok", CommandResultTopic(testIMEI, res.Cmd), res, "", false},
		{"result other id", CommandResultTopic(testIMEI, "zz"), &res, "cmd", true},
		{"request ok", CommandRequestTopic(testIMEI, req.ID), req, "", false},
		{"request other id", CommandRequestTopic(testIMEI, "zz"), req, "id", true},
		{"request on result topic", CommandResultTopic(testIMEI, req.ID), req, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := ParseTopic(tc.topic)
			require.NoError(t, err)
			err = MatchTopic(tp, tc.v)
			if !tc.fail {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrTopic)
			var de *DecodeError
			require.True(t, errors.As(err, &de))
			assert.Equal(t, tc.field, de.Field)
		})
	}
}

func TestMillis(t *testing.T) {
	tm := time.Date(2024, 11, 25, 18, 40, 0, 123_000_000, time.UTC)
	assert.Equal(t, int64(1732560000123), Millis(tm))
	assert.True(t, tm.Equal(FromMillis(Millis(tm))))
	assert.Equal(t, time.UTC, FromMillis(1).Location())
	// Sub-millisecond precision is dropped, not rounded.
	assert.Equal(t, Millis(tm), Millis(tm.Add(999*time.Microsecond)))
}

func TestCommandState(t *testing.T) {
	tests := []struct {
		s        Status
		want     CommandState
		terminal bool
	}{
		{StatusAccepted, CommandAcknowledged, false},
		{StatusInProgress, CommandAcknowledged, false},
		{StatusSucceeded, CommandSucceeded, true},
		{StatusFailed, CommandFailed, true},
		{StatusRejected, CommandRejected, true},
		{StatusExpired, CommandExpired, true},
		{"bogus", "", false},
	}
	for _, tc := range tests {
		t.Run(string(tc.s), func(t *testing.T) {
			assert.Equal(t, tc.want, StateFor(tc.s))
			assert.Equal(t, tc.terminal, tc.want.Terminal())
			assert.Equal(t, tc.terminal, tc.s.Terminal())
		})
	}
	for _, s := range []CommandState{CommandQueued, CommandSent, CommandAcknowledged} {
		assert.False(t, s.Terminal(), s)
	}
	assert.True(t, CommandTimedOut.Terminal())
}

func TestDecodeMessage(t *testing.T) {
	hello := mustJSON(t, validObj(ClassHello))
	tp, v, err := DecodeMessage(TopicFor(testIMEI, ClassHello), hello)
	require.NoError(t, err)
	assert.Equal(t, Topic{IMEI: testIMEI, Class: ClassHello}, tp)
	assert.Equal(t, testIMEI, v.(Hello).IMEI)

	_, v, err = DecodeMessage("vm/v1/x/hello", hello)
	require.ErrorIs(t, err, ErrTopic)
	assert.Nil(t, v)

	tp, v, err = DecodeMessage(TopicFor("861234567890124", ClassHello), hello)
	require.ErrorIs(t, err, ErrTopic, "imei differs from the topic")
	assert.Equal(t, ClassHello, tp.Class)
	assert.Nil(t, v)

	tp, v, err = DecodeMessage(TopicFor(testIMEI, ClassHeartbeat), hello)
	require.ErrorIs(t, err, ErrUnknownField, "a hello is not a heartbeat")
	assert.Equal(t, ClassHeartbeat, tp.Class)
	assert.Nil(t, v)
}
