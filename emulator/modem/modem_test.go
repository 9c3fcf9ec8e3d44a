package modem

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/emulator/machine"
	"vendgate/protocol"
)

const (
	testIMEI = "350000000000001"
	waitMax  = 5 * time.Second
)

// msg is one message seen by the test, decoded by the protocol package.
type msg struct {
	topic   protocol.Topic
	retain  bool
	payload []byte
	value   any // protocol.Decode result
	err     error
}

// sink collects messages and lets a test wait for one.
type sink struct {
	mu   sync.Mutex
	msgs []msg
}

func (s *sink) add(topic string, payload []byte, retain bool) {
	m := msg{retain: retain, payload: append([]byte(nil), payload...)}
	m.topic, m.err = protocol.ParseTopic(topic)
	if m.err == nil {
		m.value, m.err = protocol.Decode(m.topic.Class, payload)
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

func (s *sink) all(pred func(msg) bool) []msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []msg
	for _, m := range s.msgs {
		if pred(m) {
			out = append(out, m)
		}
	}
	return out
}

// wait polls until n messages match pred and returns them.
func (s *sink) wait(t *testing.T, n int, pred func(msg) bool) []msg {
	t.Helper()
	var got []msg
	require.Eventually(t, func() bool {
		got = s.all(pred)
		return len(got) >= n
	}, waitMax, 5*time.Millisecond, "waiting for %d messages", n)
	return got
}

// decodeErrors lists uplinks the protocol package refuses (all the modem's must pass;
// requests the test sends on purpose malformed are not counted).
func (s *sink) decodeErrors() []string {
	var out []string
	for _, m := range s.all(func(m msg) bool { return m.err != nil && m.topic.Class != protocol.ClassCommandRequest }) {
		out = append(out, m.err.Error()+": "+string(m.payload))
	}
	return out
}

func class(c protocol.Class) func(msg) bool {
	return func(m msg) bool { return m.err == nil && m.topic.Class == c }
}

func result(cmdID string, st protocol.Status) func(msg) bool {
	return func(m msg) bool {
		r, ok := m.value.(protocol.CommandResult)
		return ok && r.Cmd == cmdID && (st == "" || r.Status == st)
	}
}

// recorder is a mochi hook that records every client publish: it sees what reaches
// the broker even when no subscriber is connected yet.
type recorder struct {
	mochi.HookBase
	sink *sink
}

func (r *recorder) ID() string { return "recorder" }
func (r *recorder) Provides(b byte) bool {
	return b == mochi.OnPublished
}
func (r *recorder) OnPublished(_ *mochi.Client, pk packets.Packet) {
	r.sink.add(pk.TopicName, pk.Payload, pk.FixedHeader.Retain)
}

type broker struct {
	once sync.Once
	srv  *mochi.Server
	addr string
	rec  *sink
}

// startBroker runs an allow-all mochi broker on addr ("127.0.0.1:0" for a new port).
func startBroker(t testing.TB, addr string, rec *sink) *broker {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, srv.AddHook(new(auth.AllowHook), nil))
	require.NoError(t, srv.AddHook(&recorder{sink: rec}, nil))
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: addr})
	require.NoError(t, srv.AddListener(l))
	go func() { _ = srv.Serve() }()
	b := &broker{srv: srv, addr: l.Address(), rec: rec}
	t.Cleanup(b.stop)
	return b
}

func (b *broker) stop() { b.once.Do(func() { _ = b.srv.Close() }) }

// observe connects a paho subscriber to vm/v1/# and returns its sink and client.
func observe(t *testing.T, b *broker) (*sink, paho.Client) {
	t.Helper()
	s := &sink{}
	opts := paho.NewClientOptions().AddBroker("tcp://" + b.addr).SetClientID(fmt.Sprintf("obs%d", time.Now().UnixNano())).
		SetCleanSession(true).SetOrderMatters(true)
	c := paho.NewClient(opts)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(waitMax))
	require.NoError(t, tok.Error())
	tok = c.Subscribe("vm/v1/#", 1, func(_ paho.Client, m paho.Message) { s.add(m.Topic(), m.Payload(), m.Retained()) })
	require.True(t, tok.WaitTimeout(waitMax))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(0) })
	return s, c
}

func testConfig(b *broker) Config {
	return Config{
		Broker:       "tcp://" + b.addr,
		IMEI:         testIMEI,
		Password:     "secret",
		HBInterval:   100 * time.Millisecond,
		Keepalive:    2 * time.Second,
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
		RebootDelay:  50 * time.Millisecond,
		Bus:          protocol.BusMDB,
		Cashless:     protocol.Cashless{Enabled: true, Address: 1, Level: 3},
		Machine:      machine.New(machine.Config{Selections: 3, Prices: []int64{100, 150, 200}, Seed: 1}),
		Seed:         1,
	}
}

// runModem starts Run and stops it at cleanup; it waits until connected.
func runModem(t testing.TB, cfg Config) *Modem {
	t.Helper()
	m, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(waitMax):
			t.Error("Run did not return")
		}
	})
	require.Eventually(t, m.Connected, waitMax, 5*time.Millisecond)
	return m
}

func sendCommand(t *testing.T, c paho.Client, id string, name protocol.CommandName, args any, exp int64) {
	t.Helper()
	var raw json.RawMessage
	if args != nil {
		b, err := json.Marshal(args)
		require.NoError(t, err)
		raw = b
	}
	req := protocol.CommandRequest{
		Header: protocol.Header{V: 1, ID: id, TS: time.Now().UnixMilli()},
		Name:   name, Args: raw, Exp: exp,
	}
	b, err := json.Marshal(req)
	require.NoError(t, err)
	publishRaw(t, c, protocol.CommandRequestTopic(testIMEI, id), b)
}

func publishRaw(t *testing.T, c paho.Client, topic string, b []byte) {
	t.Helper()
	tok := c.Publish(topic, 1, false, b)
	require.True(t, tok.WaitTimeout(waitMax))
	require.NoError(t, tok.Error())
}

func inAMinute() int64 { return time.Now().Add(time.Minute).UnixMilli() }

func TestSessionFlow(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0", &sink{})
	obs, _ := observe(t, b)
	m := runModem(t, testConfig(b))

	st := obs.wait(t, 1, class(protocol.ClassState))[0]
	state := st.value.(protocol.State)
	assert.True(t, state.Online)
	assert.EqualValues(t, 1, state.Epoch)
	assert.True(t, st.retain || len(obs.all(class(protocol.ClassState))) == 1)

	hello := obs.wait(t, 1, class(protocol.ClassHello))[0].value.(protocol.Hello)
	assert.Equal(t, testIMEI, hello.IMEI)
	assert.Equal(t, protocol.BusMDB, hello.Bus)
	assert.Equal(t, 1, hello.HBInterval, "100ms rounds up to the protocol's minimum of 1 s")

	hbs := obs.wait(t, 3, class(protocol.ClassHeartbeat))
	for _, h := range hbs {
		assert.EqualValues(t, 1, h.value.(protocol.Heartbeat).Epoch)
	}
	// Order: state before hello before the first heartbeat, as the broker
	// processed them (one connection, in order). The subscribing observer is
	// not a witness of the sending order: it saw hello before state in about
	// one run in fifteen.
	all := b.rec.all(func(msg) bool { return true })
	require.GreaterOrEqual(t, len(all), 5)
	assert.Equal(t, protocol.ClassState, all[0].topic.Class)
	assert.Equal(t, protocol.ClassHello, all[1].topic.Class)

	require.Eventually(t, func() bool { s := m.Stats(); return s.Acked >= 5 && s.Acked == s.Sent }, waitMax, 5*time.Millisecond)
	assert.Empty(t, obs.decodeErrors())
	assert.EqualValues(t, 1, m.Epoch())
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name     string
		bus      protocol.Bus
		cmd      protocol.CommandName
		args     any
		want     protocol.Status
		code     int
		accepted bool
		check    func(t *testing.T, obs *sink, res protocol.CommandResult, id string)
	}{
		{name: "set_config", cmd: protocol.CmdSetConfig, args: map[string]any{"hb_interval": 7, "phone": "+70000000001"},
			want: protocol.StatusSucceeded, accepted: true,
			check: func(t *testing.T, obs *sink, _ protocol.CommandResult, _ string) {
				obs.wait(t, 1, func(m msg) bool {
					h, ok := m.value.(protocol.Hello)
					return ok && h.HBInterval == 7 && h.Phone == "+70000000001"
				})
			}},
		{name: "request config", cmd: protocol.CmdRequest, args: protocol.RequestArgs{Config: true},
			want: protocol.StatusSucceeded, accepted: true,
			check: func(t *testing.T, _ *sink, res protocol.CommandResult, _ string) {
				var cfg map[string]any
				require.NoError(t, json.Unmarshal(res.Result, &cfg))
				assert.Equal(t, testIMEI, cfg["imei"])
				assert.NotContains(t, string(res.Result), "secret")
			}},
		{name: "request report", cmd: protocol.CmdRequest, args: protocol.RequestArgs{Report: true},
			want: protocol.StatusSucceeded, accepted: true,
			check: func(t *testing.T, obs *sink, _ protocol.CommandResult, id string) {
				a := obs.wait(t, 1, func(m msg) bool { a, ok := m.value.(protocol.Audit); return ok && a.Cmd == id })[0]
				assert.True(t, strings.HasPrefix(a.value.(protocol.Audit).Data, "DXS*"))
				obs.wait(t, 1, func(m msg) bool { e, ok := m.value.(protocol.Event); return ok && e.Code == "TEVA" })
			}},
		{name: "dispense on mdb", cmd: protocol.CmdDispense, args: protocol.DispenseArgs{Number: 11},
			want: protocol.StatusSucceeded, accepted: true,
			check: func(t *testing.T, obs *sink, _ protocol.CommandResult, id string) {
				v := obs.wait(t, 1, func(m msg) bool { v, ok := m.value.(protocol.Vend); return ok && v.Cmd == id })[0].value.(protocol.Vend)
				assert.Equal(t, "11", v.Selection)
				assert.Equal(t, protocol.PayNone, v.Payment)
				assert.Equal(t, protocol.VendFree, v.Type)
			}},
		{name: "dispense unknown selection", cmd: protocol.CmdDispense, args: protocol.DispenseArgs{Number: 99},
			want: protocol.StatusRejected, code: protocol.CodeBadArgs},
		{name: "dispense without bus", bus: protocol.BusNone, cmd: protocol.CmdDispense, args: protocol.DispenseArgs{Number: 11},
			want: protocol.StatusRejected, code: protocol.CodeUnsupported},
		{name: "cashless credit", cmd: protocol.CmdCashlessCredit, args: protocol.CashlessCreditArgs{Amount: 170, AutoApprove: true},
			want: protocol.StatusSucceeded, accepted: true,
			check: func(t *testing.T, obs *sink, _ protocol.CommandResult, id string) {
				v := obs.wait(t, 1, func(m msg) bool { v, ok := m.value.(protocol.Vend); return ok && v.Cmd == id })[0].value.(protocol.Vend)
				assert.Equal(t, protocol.PayCashless, v.Payment)
				assert.EqualValues(t, 150, v.Price, "the dearest product the credit covers")
			}},
		{name: "cashless mode", cmd: protocol.CmdCashlessMode, args: protocol.CashlessModeArgs{Enabled: false},
			want: protocol.StatusSucceeded, accepted: true,
			check: func(t *testing.T, obs *sink, _ protocol.CommandResult, _ string) {
				obs.wait(t, 1, func(m msg) bool { h, ok := m.value.(protocol.Hello); return ok && !h.Cashless.Enabled })
			}},
		{name: "cashless address", cmd: protocol.CmdCashlessAddress, args: protocol.CashlessAddressArgs{Address: 2},
			want: protocol.StatusSucceeded, accepted: true,
			check: func(t *testing.T, obs *sink, _ protocol.CommandResult, _ string) {
				obs.wait(t, 1, func(m msg) bool { h, ok := m.value.(protocol.Hello); return ok && h.Cashless.Address == 2 })
			}},
		{name: "unknown command", cmd: "self_destruct", args: map[string]any{},
			want: protocol.StatusRejected, code: protocol.CodeUnknown},
		{name: "bad args", cmd: protocol.CmdCashlessCredit, args: map[string]any{"amount": "lots"},
			want: protocol.StatusRejected, code: protocol.CodeBadArgs},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBroker(t, "127.0.0.1:0", &sink{})
			obs, c := observe(t, b)
			cfg := testConfig(b)
			if tt.bus != "" {
				cfg.Bus = tt.bus
			}
			var hooks []protocol.CommandResult
			var mu sync.Mutex
			cfg.OnResult = func(_ protocol.CommandRequest, res protocol.CommandResult, lat time.Duration) {
				mu.Lock()
				hooks = append(hooks, res)
				mu.Unlock()
				assert.GreaterOrEqual(t, lat, time.Duration(0))
			}
			runModem(t, cfg)
			obs.wait(t, 1, class(protocol.ClassHello))

			id := fmt.Sprintf("cmd-%d", i)
			sendCommand(t, c, id, tt.cmd, tt.args, inAMinute())
			res := obs.wait(t, 1, func(m msg) bool {
				r, ok := m.value.(protocol.CommandResult)
				return ok && r.Cmd == id && r.Status.Terminal()
			})[0].value.(protocol.CommandResult)
			assert.Equal(t, tt.want, res.Status, res.Message)
			assert.Equal(t, tt.code, res.Code)
			// "accepted" comes first, and only for commands the modem takes on.
			first := obs.wait(t, 1, result(id, ""))[0].value.(protocol.CommandResult)
			if tt.accepted {
				assert.Equal(t, protocol.StatusAccepted, first.Status)
			} else {
				assert.Equal(t, tt.want, first.Status)
			}
			if tt.check != nil {
				tt.check(t, obs, res, id)
			}
			mu.Lock()
			assert.Len(t, hooks, 1)
			mu.Unlock()
			assert.Empty(t, obs.decodeErrors())
		})
	}
}

func TestDuplicateCommandExecutedOnce(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0", &sink{})
	obs, c := observe(t, b)
	m := runModem(t, testConfig(b))
	obs.wait(t, 1, class(protocol.ClassHello))

	args := protocol.CashlessCreditArgs{Amount: 100, AutoApprove: true}
	sendCommand(t, c, "dup-1", protocol.CmdCashlessCredit, args, inAMinute())
	first := obs.wait(t, 1, result("dup-1", protocol.StatusSucceeded))[0].value.(protocol.CommandResult)
	sendCommand(t, c, "dup-1", protocol.CmdCashlessCredit, args, inAMinute())
	again := obs.wait(t, 2, result("dup-1", protocol.StatusSucceeded))[1].value.(protocol.CommandResult)
	assert.Equal(t, first, again, "the stored result is sent again")

	require.Eventually(t, func() bool { return m.Stats().CmdDuplicates == 1 }, waitMax, 5*time.Millisecond)
	// A third, unrelated command flushes the pipeline so a second vend would be visible.
	sendCommand(t, c, "dup-2", protocol.CmdRequest, protocol.RequestArgs{Config: true}, inAMinute())
	obs.wait(t, 1, result("dup-2", protocol.StatusSucceeded))
	vends := obs.all(func(m msg) bool { v, ok := m.value.(protocol.Vend); return ok && v.Cmd == "dup-1" })
	assert.Len(t, vends, 1, "executed once")
	assert.EqualValues(t, 1, m.Machine().Counters().CashlessVends)
	assert.Len(t, obs.all(result("dup-1", protocol.StatusAccepted)), 1)
}

func TestExpiredCommand(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0", &sink{})
	obs, c := observe(t, b)
	m := runModem(t, testConfig(b))
	obs.wait(t, 1, class(protocol.ClassHello))

	sendCommand(t, c, "old-1", protocol.CmdDispense, protocol.DispenseArgs{Number: 10}, time.Now().Add(-time.Second).UnixMilli())
	res := obs.wait(t, 1, result("old-1", ""))[0].value.(protocol.CommandResult)
	assert.Equal(t, protocol.StatusExpired, res.Status)
	assert.Equal(t, protocol.CodeExpired, res.Code)
	assert.Zero(t, m.Machine().Counters().Vends, "not executed")
	assert.Empty(t, obs.all(class(protocol.ClassVend)))
}

func TestWillOnAbruptDisconnect(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0", &sink{})
	obs, _ := observe(t, b)
	m := runModem(t, testConfig(b))
	obs.wait(t, 1, class(protocol.ClassHello))

	m.Disconnect()
	will := obs.wait(t, 1, func(m msg) bool { s, ok := m.value.(protocol.State); return ok && !s.Online })[0].value.(protocol.State)
	assert.Equal(t, "lwt", will.Reason)
	assert.EqualValues(t, 1, will.Epoch)

	online := obs.wait(t, 1, func(m msg) bool { s, ok := m.value.(protocol.State); return ok && s.Online && s.Epoch == 2 })
	require.Len(t, online, 1)
	obs.wait(t, 2, class(protocol.ClassHello))
	require.Eventually(t, func() bool { return m.Stats().Reconnects == 1 }, waitMax, 5*time.Millisecond)
}

func TestResetReboots(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0", &sink{})
	obs, c := observe(t, b)
	m := runModem(t, testConfig(b))
	obs.wait(t, 1, class(protocol.ClassHello))

	sendCommand(t, c, "rst-1", protocol.CmdReset, nil, inAMinute())
	obs.wait(t, 1, result("rst-1", protocol.StatusSucceeded))
	off := obs.wait(t, 1, func(m msg) bool { s, ok := m.value.(protocol.State); return ok && !s.Online })[0].value.(protocol.State)
	assert.Equal(t, "reboot", off.Reason)
	obs.wait(t, 1, func(m msg) bool { s, ok := m.value.(protocol.State); return ok && s.Online && s.Epoch == 2 })
	assert.Len(t, obs.all(result("rst-1", "")), 2, "accepted + succeeded, no re-execution after the reboot")
	assert.EqualValues(t, 2, m.Epoch())
}

func TestBufferingAcrossBrokerRestart(t *testing.T) {
	rec := &sink{}
	b := startBroker(t, "127.0.0.1:0", rec)
	cfg := testConfig(b)
	cfg.HBInterval = time.Hour // only the events below
	cfg.BufferMax = 3
	m := runModem(t, cfg)
	rec.wait(t, 1, class(protocol.ClassHello))
	// Everything of the session acknowledged first: an uplink still in flight
	// when the broker stops goes back to the buffer and would take a slot.
	require.Eventually(t, func() bool { s := m.Stats(); return s.Buffered == 0 && s.Inflight == 0 }, waitMax, 5*time.Millisecond)

	b.stop()
	require.Eventually(t, func() bool { return !m.Connected() }, waitMax, 5*time.Millisecond)
	for i := range 5 {
		require.NoError(t, m.SendEvent("TEST", map[string]any{"i": i}))
	}
	st := m.Stats()
	assert.Equal(t, 3, st.Buffered)
	assert.EqualValues(t, 2, st.Dropped, "the oldest are dropped beyond BufferMax")

	startBroker(t, b.addr, rec) // the same address: a broker restart
	got := rec.wait(t, 3, func(m msg) bool { e, ok := m.value.(protocol.Event); return ok && e.Code == "TEST" })
	for k, want := range []string{`{"i":2}`, `{"i":3}`, `{"i":4}`} {
		assert.JSONEq(t, want, string(got[k].value.(protocol.Event).Payload))
	}
	states := rec.all(func(m msg) bool { s, ok := m.value.(protocol.State); return ok && s.Online })
	require.Len(t, states, 2)
	// Attempts made while the broker was down also used up epochs.
	assert.Greater(t, states[1].value.(protocol.State).Epoch, states[0].value.(protocol.State).Epoch)
	require.Eventually(t, func() bool { s := m.Stats(); return s.Buffered == 0 && s.Inflight == 0 }, waitMax, 5*time.Millisecond)
	assert.Empty(t, rec.decodeErrors())
}

func TestSendRawAndShutdown(t *testing.T) {
	rec := &sink{}
	b := startBroker(t, "127.0.0.1:0", rec)
	m, err := New(testConfig(b))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	require.Eventually(t, m.Connected, waitMax, 5*time.Millisecond)

	require.NoError(t, m.SendRaw("evt", []byte("{not json")))
	bad := rec.wait(t, 1, func(m msg) bool { return m.err != nil })
	assert.ErrorIs(t, bad[0].err, protocol.ErrSyntax)

	cancel()
	require.NoError(t, <-done)
	off := rec.wait(t, 1, func(m msg) bool { s, ok := m.value.(protocol.State); return ok && !s.Online })[0]
	assert.Equal(t, "shutdown", off.value.(protocol.State).Reason)
	assert.True(t, off.retain)
	assert.False(t, m.Connected())
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no broker", Config{IMEI: testIMEI}},
		{"bad imei", Config{Broker: "tcp://127.0.0.1:1", IMEI: "12ab"}},
		{"negative rate", Config{Broker: "tcp://127.0.0.1:1", IMEI: testIMEI, VendRate: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}

func TestBackoff(t *testing.T) {
	m, err := New(Config{Broker: "tcp://127.0.0.1:1", IMEI: testIMEI, ReconnectMin: time.Second, ReconnectMax: 8 * time.Second})
	require.NoError(t, err)
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 10: 8 * time.Second} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			for range 20 {
				d := m.backoff(n)
				assert.GreaterOrEqual(t, d, want/2)
				assert.LessOrEqual(t, d, want)
			}
		})
	}
}
