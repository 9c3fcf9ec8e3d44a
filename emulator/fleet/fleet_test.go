package fleet

import (
	"bytes"
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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/protocol"
)

func TestIMEI(t *testing.T) {
	tests := []struct {
		prefix string
		index  int
		want   string
		err    bool
	}{
		{"35", 1, "350000000000001", false},
		{"35", 42, "350000000000042", false},
		{"", 7, "000000000000007", false},
		{"35123456789012", 9, "351234567890129", false},
		{"35", 10_000_000_000_000, "", true},
		{"351234567890123", 1, "", true},
		{"3a", 1, "", true},
		{"35", -1, "", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.prefix, tt.index), func(t *testing.T) {
			got, err := IMEI(tt.prefix, tt.index)
			if tt.err {
				require.ErrorIs(t, err, ErrConfig)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.True(t, protocol.ValidIMEI(got))
		})
	}
}

func TestPassword(t *testing.T) {
	// Expected values computed independently (Python hmac/hashlib).
	assert.Equal(t, "6dd9a7d0041bae0a727a61b9", Password("S", "350000000000001"))
	assert.Equal(t, "4470c012787530eb443ac6c3", Password("fleet-secret", "350000000000042"))
}

func TestWriteProvision(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteProvision(&buf, Config{N: 3, Secret: "S", Offset: 0}))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "350000000000001 6dd9a7d0041bae0a727a61b9", lines[0])
	assert.True(t, strings.HasPrefix(lines[2], "350000000000003 "))
	require.ErrorIs(t, WriteProvision(&buf, Config{N: 0}), ErrConfig)
}

func TestPercentiles(t *testing.T) {
	l := &latencies{rng: 1}
	assert.Equal(t, Percentiles{}, l.percentiles())
	for i := 100; i >= 1; i-- {
		l.add(time.Duration(i) * time.Millisecond)
	}
	p := l.percentiles()
	assert.Equal(t, Percentiles{Count: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond,
		P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}, p)
}

// TestRunFleet runs 5 modems against an in-process broker, sends one of them a
// command and checks the summary.
func TestRunFleet(t *testing.T) {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, srv.AddHook(new(auth.AllowHook), nil))
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	require.NoError(t, srv.AddListener(l))
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Close() })
	broker := "tcp://" + l.Address()

	// A paho peer that plays the gateway: it waits for the first heartbeat of modem 3
	// (sent only once the modem has subscribed) and sends it a command.
	target, err := IMEI("35", 3)
	require.NoError(t, err)
	var (
		mu      sync.Mutex
		results []protocol.CommandResult
		hellos  = map[string]bool{}
		beats   = map[string]bool{}
	)
	peer := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("peer"))
	tok := peer.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	defer peer.Disconnect(0)
	tok = peer.Subscribe("vm/v1/#", 1, func(c paho.Client, m paho.Message) {
		tp, err := protocol.ParseTopic(m.Topic())
		if err != nil {
			return
		}
		switch tp.Class {
		case protocol.ClassHello:
			mu.Lock()
			hellos[tp.IMEI] = true
			mu.Unlock()
		case protocol.ClassHeartbeat:
			mu.Lock()
			first := !beats[tp.IMEI]
			beats[tp.IMEI] = true
			mu.Unlock()
			if tp.IMEI == target && first {
				req := protocol.CommandRequest{Header: protocol.Header{V: 1, ID: "c1", TS: time.Now().UnixMilli()},
					Name: protocol.CmdRequest, Args: json.RawMessage(`{"report":false,"config":true}`), Exp: time.Now().Add(time.Minute).UnixMilli()}
				b, err := protocol.Encode(req)
				assert.NoError(t, err)
				c.Publish(protocol.CommandRequestTopic(target, "c1"), 1, false, b)
			}
		case protocol.ClassCommandResult:
			if r, err := protocol.DecodeCommandResult(m.Payload()); err == nil {
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}
	})
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	var progress []Progress
	var pmu sync.Mutex
	sum, err := Run(context.Background(), Config{
		Broker: broker, N: 5, Secret: "S", Ramp: 50, Duration: 800 * time.Millisecond,
		HBInterval: 100 * time.Millisecond, VendRate: 600, EventRate: 300, Seed: 7,
		ProgressEvery: 100 * time.Millisecond,
		Progress: func(p Progress) {
			pmu.Lock()
			progress = append(progress, p)
			pmu.Unlock()
		},
	})
	require.NoError(t, err)
	t.Log("\n" + sum.String())

	assert.Equal(t, 5, sum.Modems)
	assert.Equal(t, 5, sum.EverConnected)
	assert.Equal(t, 5, sum.Connected)
	assert.Equal(t, 5, sum.MaxConnected)
	assert.Greater(t, sum.Acked, uint64(5*3), "state, hello and heartbeats per modem at least")
	assert.LessOrEqual(t, sum.Acked, sum.Sent)
	assert.EqualValues(t, 1, sum.CmdReceived)
	assert.EqualValues(t, 1, sum.CmdResults[protocol.StatusSucceeded])
	assert.EqualValues(t, 1, sum.Latency.Count)
	assert.Zero(t, sum.Errors["config"])

	pmu.Lock()
	assert.GreaterOrEqual(t, len(progress), 3)
	last := progress[len(progress)-1]
	pmu.Unlock()
	assert.Contains(t, last.String(), "started=5")

	// The peer's subscription is delivered asynchronously: the results the
	// fleet sent (counted in sum above) may still be on their way to it.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(results) >= 2
	}, 5*time.Second, 10*time.Millisecond, "the peer got the command's results")
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, hellos, 5)
	require.Len(t, results, 2)
	assert.Equal(t, protocol.StatusAccepted, results[0].Status)
	assert.Equal(t, protocol.StatusSucceeded, results[1].Status)
}

func TestRunValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no modems", Config{Broker: "tcp://127.0.0.1:1"}},
		{"no broker", Config{N: 1}},
		{"negative ramp", Config{Broker: "tcp://127.0.0.1:1", N: 1, Ramp: -1}},
		{"bad prefix", Config{Broker: "tcp://127.0.0.1:1", N: 1, IMEIPrefix: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg)
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}
