package command

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

// answer applies a result uplink with a payload and tells the service as the
// ingest writer does.
func answer(t *testing.T, e *directEnv, id string, st protocol.Status, result string, at time.Time) {
	t.Helper()
	res := store.CommandResult{CommandID: id, Status: string(st), Code: 3, Message: "m-" + string(st)}
	if result != "" {
		res.Result = []byte(result)
	}
	up := store.Uplink{Kind: store.UpResult, ModemID: e.mid, Received: at, Result: &res}
	require.NoError(t, e.db.DB.ApplyUplinks(context.Background(), []store.Uplink{up}))
	e.s.AnswersCommitted([]store.Uplink{up})
	e.s.ResultStored(e.mid, res)
}

// A command sent directly ends without reading its row back: the row the
// service kept in step with the answers is exactly the stored one.
func TestFinalWithoutRead(t *testing.T) {
	tests := []struct {
		name    string
		answers []protocol.Status
		results []string
	}{
		{"succeeded at once", []protocol.Status{protocol.StatusSucceeded}, []string{`{"x":1}`}},
		{"accepted then failed", []protocol.Status{protocol.StatusAccepted, protocol.StatusFailed}, []string{`{"p":1}`, ""}},
		{"two acks then rejected", []protocol.Status{protocol.StatusAccepted, protocol.StatusInProgress, protocol.StatusRejected},
			[]string{"", `{"p":2}`, `{"r":3}`}},
	}
	e := newDirect(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("n%d", i)
			submit(t, e.s, e.mid, id)
			e.db.gets.Store(0)
			at := time.Now().Add(time.Duration(i) * time.Second)
			for k, st := range tc.answers {
				answer(t, e, id, st, tc.results[k], at.Add(time.Duration(k)*time.Millisecond*1500))
			}
			assert.Zero(t, e.db.gets.Load(), "store reads")
			got, ok := e.s.Final(id)
			require.True(t, ok)
			stored, err := e.db.DB.GetCommand(context.Background(), id)
			require.NoError(t, err)
			assert.Equal(t, stored, got)
			waitFor(t, "the modem to settle", func() bool { return !e.pending() })
		})
	}
}

// The row a command sent directly ends with goes to the final cache as it
// is: answers that come after the end change neither the store nor it.
func TestFinalRowKeptAfterEnd(t *testing.T) {
	e := newDirect(t)
	submit(t, e.s, e.mid, "k1")
	at := time.Now()
	answer(t, e, "k1", protocol.StatusSucceeded, `{"x":1}`, at)
	want, ok := e.s.Final("k1")
	require.True(t, ok)
	require.Equal(t, store.CmdSucceeded, want.State)
	// A late, contradicting answer (a modem resending its result).
	answer(t, e, "k1", protocol.StatusFailed, `{"y":2}`, at.Add(time.Second))
	got, ok := e.s.Final("k1")
	require.True(t, ok)
	assert.Equal(t, want, got)
	stored, err := e.db.DB.GetCommand(context.Background(), "k1")
	require.NoError(t, err)
	assert.Equal(t, stored, got)
}

// Live follows the answers of a command sent under a fence (one row, kept
// in step), and never returns it final.
func TestLiveFollowsAnswers(t *testing.T) {
	e := newDirect(t)
	sent := submit(t, e.s, e.mid, "l1")
	lc, ok := e.s.Live("l1")
	require.True(t, ok)
	assert.Equal(t, sent, lc)
	answer(t, e, "l1", protocol.StatusAccepted, "", time.Now())
	lc, ok = e.s.Live("l1")
	require.True(t, ok)
	assert.Equal(t, store.CmdAcknowledged, lc.State)
	assert.Equal(t, state(t, e.db.DB, "l1"), lc)
	// A final answer committed: not live, even before ResultStored.
	res := store.CommandResult{CommandID: "l1", Status: string(protocol.StatusSucceeded)}
	up := store.Uplink{Kind: store.UpResult, ModemID: e.mid, Received: time.Now(), Result: &res}
	require.NoError(t, e.db.DB.ApplyUplinks(context.Background(), []store.Uplink{up}))
	e.s.AnswersCommitted([]store.Uplink{up})
	_, ok = e.s.Live("l1")
	assert.False(t, ok, "final")
	e.s.ResultStored(e.mid, res)
	got, ok := e.s.Final("l1")
	require.True(t, ok)
	assert.Equal(t, state(t, e.db.DB, "l1"), got)
}

// Doubt means a read: a command that may have expired, or a fence broken by
// another writer, ends with the store's row.
func TestFinalReadsWhenInDoubt(t *testing.T) {
	t.Run("another writer", func(t *testing.T) {
		e := newDirect(t)
		submit(t, e.s, e.mid, "d1")
		other := openDirect(t, e.path)
		require.NoError(t, other.Finish(context.Background(), "d1", store.CmdTimedOut, "elsewhere", time.Now()))
		e.db.gets.Store(0)
		answer(t, e, "d1", protocol.StatusSucceeded, "", time.Now())
		assert.Equal(t, int64(1), e.db.gets.Load(), "store reads")
		got, ok := e.s.Final("d1")
		require.True(t, ok)
		assert.Equal(t, store.CmdTimedOut, got.State)
	})
	t.Run("past expiry", func(t *testing.T) {
		e := newDirect(t)
		c, _, err := e.s.Submit(context.Background(), Request{ID: "d2", ModemID: e.mid, Name: protocol.CmdCashlessMode,
			Args: protocol.CashlessModeArgs{Enabled: true}, TTL: time.Millisecond})
		require.NoError(t, err)
		require.Equal(t, store.CmdSent, c.State)
		time.Sleep(5 * time.Millisecond)
		e.db.gets.Store(0)
		answer(t, e, "d2", protocol.StatusSucceeded, "", time.Now())
		assert.Equal(t, int64(1), e.db.gets.Load(), "store reads")
		got, ok := e.s.Final("d2")
		require.True(t, ok)
		stored, err := e.db.DB.GetCommand(context.Background(), "d2")
		require.NoError(t, err)
		assert.Equal(t, stored, got)
	})
}
