package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

func startBroker(t *testing.T) (*mochi.Server, string) {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, srv.AddHook(new(auth.AllowHook), nil))
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	require.NoError(t, srv.AddListener(l))
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv, l.Address()
}

// uplinkWatcher is a paho peer that decodes every uplink with the protocol
// package (so the raw payloads are checked against the contract) and can send
// commands.
type uplinkWatcher struct {
	mu      sync.Mutex
	byClass map[protocol.Class]int
	invalid []string
	results []protocol.CommandResult
	c       paho.Client
}

func watch(t *testing.T, addr string) *uplinkWatcher {
	w := &uplinkWatcher{byClass: map[protocol.Class]int{}}
	w.c = paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("peer"))
	tok := w.c.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { w.c.Disconnect(0) })
	tok = w.c.Subscribe("vm/v1/#", 1, func(_ paho.Client, m paho.Message) {
		tp, v, err := protocol.DecodeMessage(m.Topic(), m.Payload())
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			w.invalid = append(w.invalid, m.Topic()+": "+err.Error())
			return
		}
		w.byClass[tp.Class]++
		if r, ok := v.(protocol.CommandResult); ok {
			w.results = append(w.results, r)
		}
	})
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	return w
}

func (w *uplinkWatcher) command(t *testing.T, imei, id string, exp time.Duration) {
	ts := time.Now()
	if exp < 0 {
		ts = ts.Add(2 * exp)
	}
	req, err := protocol.NewCommandRequest(id, protocol.CmdCashlessMode, protocol.CashlessModeArgs{Enabled: true},
		ts, time.Now().Add(exp))
	require.NoError(t, err)
	b, err := protocol.Encode(req)
	require.NoError(t, err)
	tok := w.c.Publish(protocol.CommandRequestTopic(imei, id), 1, false, b)
	require.True(t, tok.WaitTimeout(5*time.Second))
}

func TestRawFleet(t *testing.T) {
	_, addr := startBroker(t)
	w := watch(t, addr)
	target, err := IMEI(DefaultIMEIPrefix, 2)
	require.NoError(t, err)
	var sent atomic.Bool
	src, err := ParseSourceRange("127.0.0.2-127.0.0.4")
	require.NoError(t, err)
	sum, err := Run(context.Background(), Config{
		Client: ClientRaw, Broker: "tcp://" + addr, N: 6, Secret: "S", Ramp: 0, Duration: 1500 * time.Millisecond,
		HBInterval: 200 * time.Millisecond, Keepalive: 2 * time.Second, EventRate: 120, VendRate: 120, AuditRate: 60,
		SourceIPs: src, Seed: 3, ProgressEvery: 100 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Connected == 6 && !sent.Swap(true) {
				w.command(t, target, "c1", time.Minute)
				w.command(t, target, "c1", time.Minute) // a resend: answered, not re-run
				w.command(t, target, "c2", -time.Second)
			}
		},
	})
	require.NoError(t, err)
	t.Log("\n" + sum.String())
	assert.Equal(t, ClientRaw, sum.Client)
	assert.Equal(t, 6, sum.EverConnected)
	assert.Equal(t, 6, sum.Connected)
	assert.Positive(t, sum.RampTime)
	assert.Equal(t, sum.Sent, sum.Acked, "every uplink acknowledged after the drain")
	assert.GreaterOrEqual(t, sum.Sent, uint64(6*2+6*5), "state + hello + ~7 heartbeats each")
	assert.EqualValues(t, 3, sum.CmdReceived)
	assert.EqualValues(t, 1, sum.CmdDuplicates)
	assert.EqualValues(t, 1, sum.CmdResults[protocol.StatusSucceeded])
	assert.EqualValues(t, 1, sum.CmdResults[protocol.StatusExpired])
	assert.Equal(t, 1, sum.Latency.Count)
	assert.Empty(t, sum.Errors)

	time.Sleep(200 * time.Millisecond) // the peer's last deliveries
	w.mu.Lock()
	defer w.mu.Unlock()
	assert.Empty(t, w.invalid, "every raw payload passes the protocol decoders")
	for _, c := range []protocol.Class{protocol.ClassHello, protocol.ClassState, protocol.ClassHeartbeat,
		protocol.ClassEvent, protocol.ClassVend, protocol.ClassAudit} {
		assert.Positive(t, w.byClass[c], c.String())
	}
	var statuses []protocol.Status
	for _, r := range w.results {
		statuses = append(statuses, r.Status)
	}
	assert.ElementsMatch(t, []protocol.Status{protocol.StatusAccepted, protocol.StatusSucceeded,
		protocol.StatusSucceeded, protocol.StatusExpired}, statuses)
}

// TestRawFleetReconnects drops every connection once; the modems come back and
// resend nothing twice.
func TestRawFleetReconnects(t *testing.T) {
	srv, addr := startBroker(t)
	var dropped atomic.Bool
	sum, err := Run(context.Background(), Config{
		Client: ClientRaw, Broker: addr, N: 4, Secret: "S", Duration: 1500 * time.Millisecond, Flood: 2,
		HBInterval: time.Hour, Keepalive: 5 * time.Second, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
		ProgressEvery: 100 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Connected == 4 && !dropped.Swap(true) {
				for _, cl := range srv.Clients.GetAll() {
					cl.Stop(errors.New("test drop"))
				}
			}
		},
	})
	require.NoError(t, err)
	t.Log("\n" + sum.String())
	assert.GreaterOrEqual(t, sum.Reconnects, uint64(4))
	assert.Equal(t, 4, sum.Connected)
	assert.Positive(t, sum.AckRate, "flood keeps publishing")
	assert.Equal(t, sum.Sent, sum.Acked)
	assert.Positive(t, sum.Errors["read_eof"]+sum.Errors["read_reset"])
}

func TestRawConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"tls", Config{Client: ClientRaw, Broker: "ssl://127.0.0.1:8883", N: 1}},
		{"no port", Config{Client: ClientRaw, Broker: "tcp://127.0.0.1", N: 1}},
		{"unknown client", Config{Client: "x", Broker: "tcp://127.0.0.1:1", N: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg)
			require.ErrorIs(t, err, ErrConfig)
		})
	}
	ips, err := ParseSourceRange("127.0.0.2-127.0.0.250")
	require.NoError(t, err)
	assert.Len(t, ips, 249)
	assert.True(t, ips[248].Equal(net.IPv4(127, 0, 0, 250)))
	for _, bad := range []string{"x", "127.0.0.5-127.0.0.2", "::1-::2"} {
		_, err := ParseSourceRange(bad)
		assert.ErrorIs(t, err, ErrConfig, bad)
	}
	assert.Equal(t, ClientRaw, Config{N: 101}.client())
	assert.Equal(t, ClientPaho, Config{N: 100}.client())
}

func TestRawFleetSink(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			// A broker of its own: a previous run's goodbyes and wills
			// would reach this run's sink. Retained messages are sent to a
			// new plain subscription but are not forwards, so not counted.
			srv, addr := startBroker(t)
			for i := range 3 {
				srv.Topics.RetainMessage(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true, Qos: 1},
					TopicName: fmt.Sprintf("vm/v1/9900000000000%02d/state", i), Payload: []byte(`{"online":false}`)})
			}
			sum, err := Run(context.Background(), Config{
				Client: ClientRaw, Broker: addr, N: 4, Secret: "S", Duration: time.Second, Flood: 4,
				HBInterval: time.Hour, Sink: n, ProgressEvery: 100 * time.Millisecond,
			})
			require.NoError(t, err)
			t.Log("\n" + sum.String())
			assert.Equal(t, n, sum.Sink)
			assert.Positive(t, sum.ForwardRate)
			// Every acknowledged uplink reaches the sink, and a shared
			// subscription delivers each to one connection only.
			assert.Contains(t, Progress{Forwarded: sum.Forwarded}.String(), fmt.Sprintf(" forwarded=%d", sum.Forwarded))
			assert.NotContains(t, Progress{}.String(), "forwarded=")
			assert.GreaterOrEqual(t, sum.Forwarded, sum.Acked)
			assert.LessOrEqual(t, sum.Forwarded, sum.Sent)
			assert.Empty(t, sum.Errors)
		})
	}
}

// denySubscribe lets anyone connect and publish but subscribe to nothing.
type denySubscribe struct{ mochi.HookBase }

func (denySubscribe) ID() string { return "deny-subscribe" }
func (denySubscribe) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (denySubscribe) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (denySubscribe) OnACLCheck(_ *mochi.Client, _ string, write bool) bool    { return write }

func TestRawFleetSinkRefused(t *testing.T) {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, srv.AddHook(new(denySubscribe), nil))
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	require.NoError(t, srv.AddListener(l))
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Close() })
	_, err := Run(context.Background(), Config{Client: ClientRaw, Broker: l.Address(), N: 1, Secret: "S",
		Duration: time.Second, Sink: 1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "subscription refused")

	_, err = Run(context.Background(), Config{Client: ClientPaho, Broker: l.Address(), N: 1, Sink: 1})
	require.ErrorIs(t, err, ErrConfig)
	_, err = Run(context.Background(), Config{Client: ClientRaw, Broker: l.Address(), N: 1, Sink: -1})
	require.ErrorIs(t, err, ErrConfig)
}
