package modem

import (
	"encoding/json"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

// FuzzCommand feeds arbitrary request payloads to the command handler of an offline
// modem: it must never panic, must answer every request whose topic id is valid at
// most once with a terminal status, and every answer must pass the protocol decoder.
func FuzzCommand(f *testing.F) {
	now := time.Now().UnixMilli()
	seed := func(name protocol.CommandName, args string, exp int64) {
		b, _ := json.Marshal(map[string]any{"v": 1, "id": "c1", "ts": now, "name": name, "args": json.RawMessage(args), "exp": exp})
		f.Add(b)
	}
	seed(protocol.CmdReset, `{}`, now+60000)
	seed(protocol.CmdDispense, `{"number":10,"cup":true,"sugar":2}`, now+60000)
	seed(protocol.CmdDispense, `{"number":99,"cup":true,"sugar":2}`, now+60000)
	seed(protocol.CmdCashlessCredit, `{"amount":500,"auto_approve":true,"vends":3}`, now+60000)
	seed(protocol.CmdRequest, `{"report":true,"config":true}`, now+60000)
	seed(protocol.CmdSetConfig, `{"hb_interval":60,"phone":"+7"}`, now+60000)
	seed(protocol.CmdCashlessAddress, `{"address":2}`, 1)
	seed("nope", `{}`, now+60000)
	f.Add([]byte(`{"v":1,"id":"c1"`))
	f.Add([]byte(`null`))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := New(Config{Broker: "tcp://127.0.0.1:1", IMEI: testIMEI, Bus: protocol.BusMDB, RebootDelay: time.Millisecond})
		require.NoError(t, err)
		sess := &session{client: paho.NewClient(paho.NewClientOptions()), inflight: map[uint64]*uplink{}, done: make(chan struct{})}
		defer sess.end()
		topic := protocol.CommandRequestTopic(testIMEI, "c1")
		m.onCommand(sess, topic, payload)
		m.onCommand(sess, topic, payload) // a repeat is answered from memory

		m.mu.Lock()
		q := append([]*uplink(nil), m.queue...)
		m.mu.Unlock()
		terminal := 0
		for _, u := range q {
			tp, err := protocol.ParseTopic(u.topic)
			require.NoError(t, err)
			v, err := protocol.Decode(tp.Class, u.payload)
			require.NoError(t, err, "%s %s", u.topic, u.payload)
			if r, ok := v.(protocol.CommandResult); ok {
				require.Equal(t, "c1", r.Cmd)
				if r.Status.Terminal() {
					terminal++
				}
			}
		}
		require.Positive(t, terminal, "every request is answered")
		require.LessOrEqual(t, terminal, 2, "the repeat only re-sends the stored result")
		require.LessOrEqual(t, m.Stats().CmdResults[protocol.StatusSucceeded]+m.Stats().CmdResults[protocol.StatusFailed]+
			m.Stats().CmdResults[protocol.StatusRejected]+m.Stats().CmdResults[protocol.StatusExpired], uint64(1), "executed once")
	})
}
