package ingest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/broker"
	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

// countRec records what the handler counts.
type countRec struct{ rejected []string }

func (r *countRec) Message(class, outcome string) {}
func (r *countRec) Rejected(class, reason string) { r.rejected = append(r.rejected, class+"/"+reason) }
func (r *countRec) Connection(event string)       {}

// TestDecodeEvent: an event (decoded by its own typed function) becomes an
// Uplink with every field the store keeps; a malformed one is counted with
// its reason and dropped, never handed on.
func TestDecodeEvent(t *testing.T) {
	const imei = "356938035643809"
	c := broker.Conn{ModemID: 7, IMEI: imei}
	topic := protocol.TopicFor(imei, protocol.ClassEvent)
	tests := []struct {
		name    string
		payload string
		want    *store.Event // nil: dropped
		reason  string
	}{
		{"plain", `{"v":1,"id":"f-r1-1","ts":1700000000000,"code":"LOADTEST","time":1700000000123}`,
			&store.Event{ModemID: 7, MsgID: "f-r1-1", Code: "LOADTEST", Time: protocol.FromMillis(1700000000123)}, ""},
		{"payload", `{"v":1,"id":"e2","ts":1,"code":"EA1A","time":1700000000000,"payload":{ "door" : "open" }}`,
			&store.Event{ModemID: 7, MsgID: "e2", Code: "EA1A", Time: protocol.FromMillis(1700000000000),
				Payload: json.RawMessage(`{"door":"open"}`)}, ""},
		{"escaped id", `{"v":1,"id":"e\u0033","ts":1,"code":"EA","time":5}`,
			&store.Event{ModemID: 7, MsgID: "e3", Code: "EA", Time: protocol.FromMillis(5)}, ""},
		{"not json", `{"v":1,`, nil, "syntax"},
		{"missing code", `{"v":1,"id":"e4","ts":1,"time":5}`, nil, "missing_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &countRec{}
			h := &Handler{Count: rec}
			before := time.Now()
			up, class, err := h.decode(c, topic, []byte(tt.payload))
			assert.Equal(t, protocol.ClassEvent, class)
			if tt.want == nil {
				require.True(t, errors.Is(err, broker.ErrDrop), "err %v", err)
				assert.Equal(t, []string{protocol.ClassEvent.String() + "/" + tt.reason}, rec.rejected)
				return
			}
			require.NoError(t, err)
			assert.Empty(t, rec.rejected)
			assert.Equal(t, store.UpEvent, up.Kind)
			assert.Equal(t, int64(7), up.ModemID)
			assert.False(t, up.Received.Before(before))
			require.NotNil(t, up.Event)
			assert.Equal(t, *tt.want, *up.Event)
		})
	}
}

// TestDecodeHeartbeat: a heartbeat becomes an Uplink with its fields; a
// malformed one is counted and dropped.
func TestDecodeHeartbeat(t *testing.T) {
	const imei = "356938035643809"
	c := broker.Conn{ModemID: 7, IMEI: imei}
	topic := protocol.TopicFor(imei, protocol.ClassHeartbeat)
	tests := []struct {
		name    string
		payload string
		want    *store.Heartbeat // nil: dropped
		reason  string
	}{
		{"plain", `{"v":1,"id":"hb-1","ts":1,"uptime":86400,"signal":21,"vm_link":true,"errors":3,"epoch":42}`,
			&store.Heartbeat{Uptime: 86400, Signal: 21, VMLink: true, Errors: 3, Epoch: 42}, ""},
		{"unknown member", `{"v":1,"id":"hb-2","ts":1,"uptime":1,"signal":2,"vm_link":false,"errors":0,"x":1}`, nil, "unknown_field"},
		{"wrong version", `{"v":2,"id":"hb-3","ts":1}`, nil, "unsupported_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &countRec{}
			h := &Handler{Count: rec}
			up, class, err := h.decode(c, topic, []byte(tt.payload))
			assert.Equal(t, protocol.ClassHeartbeat, class)
			if tt.want == nil {
				require.True(t, errors.Is(err, broker.ErrDrop), "err %v", err)
				assert.Equal(t, []string{protocol.ClassHeartbeat.String() + "/" + tt.reason}, rec.rejected)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, store.UpHeartbeat, up.Kind)
			assert.Equal(t, int64(7), up.ModemID)
			require.NotNil(t, up.Heartbeat)
			assert.Equal(t, *tt.want, *up.Heartbeat)
		})
	}
}

// TestDecodeStateHello: a state becomes the modem's presence on this
// connection's epoch, a hello its identity; a hello naming another IMEI and
// malformed ones are counted and dropped.
func TestDecodeStateHello(t *testing.T) {
	const imei = "356938035643809"
	at := time.UnixMicro(1_790_000_000_123_456)
	c := broker.Conn{ModemID: 7, IMEI: imei, At: at}
	tests := []struct {
		name    string
		class   protocol.Class
		payload string
		want    store.Uplink // Kind 0: dropped
		reason  string
	}{
		{"state online", protocol.ClassState, `{"v":1,"id":"s1","ts":1,"online":true,"epoch":3}`,
			store.Uplink{Kind: store.UpPresence, Presence: &store.Presence{Online: true, Epoch: uint64(at.UnixMicro())}}, ""},
		{"state going offline", protocol.ClassState, `{"v":1,"id":"s2","ts":1,"online":false,"epoch":3,"reason":"shutdown"}`,
			store.Uplink{Kind: store.UpPresence, Presence: &store.Presence{Online: false, Epoch: uint64(at.UnixMicro()), Reason: "shutdown"}}, ""},
		{"state unknown member", protocol.ClassState, `{"v":1,"id":"s3","ts":1,"online":true,"epoch":3,"x":1}`, store.Uplink{}, "unknown_field"},
		{"hello", protocol.ClassHello, `{"v":1,"id":"h1","ts":1,"imei":"` + imei + `","iccid":"8970101234567890123","firmware":"3.2.7",` +
			`"phone":"+79001234567","bus":"mdb","cashless":{"enabled":true,"address":1,"level":3},"hb_interval":60,"caps":["reset","dispense"]}`,
			store.Uplink{Kind: store.UpHello, Hello: &store.Hello{ICCID: "8970101234567890123", Firmware: "3.2.7", Phone: "+79001234567",
				Bus: "mdb", CashlessOn: true, CashlessAddr: 1, HBInterval: 60, Caps: []string{"reset", "dispense"}}}, ""},
		{"hello of another modem", protocol.ClassHello, `{"v":1,"id":"h2","ts":1,"imei":"356938035643817","firmware":"1",` +
			`"bus":"none","cashless":{"enabled":false,"address":0},"hb_interval":60}`, store.Uplink{}, "invalid_value"},
		{"hello not json", protocol.ClassHello, `{"v":1,"id":`, store.Uplink{}, "syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &countRec{}
			h := &Handler{Count: rec}
			up, class, err := h.decode(c, protocol.TopicFor(imei, tt.class), []byte(tt.payload))
			assert.Equal(t, tt.class, class)
			if tt.want.Kind == 0 {
				require.True(t, errors.Is(err, broker.ErrDrop), "err %v", err)
				assert.Equal(t, []string{tt.class.String() + "/" + tt.reason}, rec.rejected)
				return
			}
			require.NoError(t, err)
			assert.Empty(t, rec.rejected)
			assert.Equal(t, int64(7), up.ModemID)
			up.ModemID, up.Received = 0, time.Time{}
			assert.Equal(t, tt.want, up)
		})
	}
}
