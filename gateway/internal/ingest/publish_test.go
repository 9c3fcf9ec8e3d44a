package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/broker"
	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

// resultRec records the command answers the handler reports.
type resultRec struct {
	mu      sync.Mutex
	results []store.CommandResult
	modems  []int64
}

func (r *resultRec) ModemReady(int64, string) {}
func (r *resultRec) ModemGone(int64)          {}
func (r *resultRec) ResultStored(modemID int64, res store.CommandResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.modems = append(r.modems, modemID)
	r.results = append(r.results, res)
}

// outcomeRec counts the handler's message outcomes.
type outcomeRec struct {
	mu       sync.Mutex
	outcomes []string
}

func (r *outcomeRec) Message(class, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, class+"/"+outcome)
}
func (r *outcomeRec) Rejected(class, reason string) {}
func (r *outcomeRec) Connection(event string)       {}

// nopUplinks stores nothing; err, when set, fails every batch.
type nopUplinks struct{ err error }

func (n nopUplinks) ApplyUplinks(context.Context, []store.Uplink) error { return n.err }

func resultPayload(n int, cmd, status string) []byte {
	return fmt.Appendf(nil, `{"v":1,"id":"r%d","ts":1700000000000,"cmd":%q,"status":%q,"code":0}`, n, cmd, status)
}

// TestPublishAsyncFollowUp: once an uplink is committed, the broker's done is
// called and a command answer reaches the command flow with its own modem
// and result; when the commit fails, done gets the error and nothing is
// reported.
func TestPublishAsyncFollowUp(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprint("fail=", fail), func(t *testing.T) {
			var st nopUplinks
			if fail {
				st.err = errors.New("disk full")
			}
			w := NewWriter(st, WriterConfig{MaxBatch: 4})
			cmds, count := &resultRec{}, &outcomeRec{}
			h := &Handler{W: w, Commands: cmds, Count: count}
			go w.Run()
			const n = 10
			done := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				imei := fmt.Sprintf("35693803564%04d", i)
				c := broker.Conn{ModemID: int64(100 + i), IMEI: imei, At: time.Now()}
				cmd := fmt.Sprint("cmd-", i)
				wg.Add(1)
				require.NoError(t, h.PublishAsync(context.Background(), c, protocol.CommandResultTopic(imei, cmd),
					resultPayload(i, cmd, "succeeded"), 1, false, func(err error) { done[i] = err; wg.Done() }))
			}
			wg.Wait()
			w.Close()
			class := protocol.ClassCommandResult.String()
			if fail {
				for i, err := range done {
					assert.ErrorIs(t, err, st.err, "uplink %d", i)
				}
				assert.Empty(t, cmds.results)
				assert.Equal(t, slices.Repeat([]string{class + "/error"}, n), count.outcomes)
				return
			}
			for i, err := range done {
				assert.NoError(t, err, "uplink %d", i)
			}
			require.Len(t, cmds.results, n)
			for i, res := range cmds.results { // one modem each, in commit order
				assert.Equal(t, int64(100+i), cmds.modems[i])
				assert.Equal(t, store.CommandResult{CommandID: fmt.Sprint("cmd-", i), Status: "succeeded"}, res)
			}
			assert.Equal(t, slices.Repeat([]string{class + "/stored"}, n), count.outcomes)
		})
	}
}

// BenchmarkPublishAsync is the ingest side of a command answer without the
// store: decode, queue, batch, follow-up (the command flow told), done.
// B/op and allocs/op are the handler's and the Writer's per uplink.
func BenchmarkPublishAsync(b *testing.B) {
	w := NewWriter(nopUplinks{}, WriterConfig{})
	h := &Handler{W: w, Commands: nopCommands{}, Count: &countRec{}}
	go w.Run()
	const imei = "356938035643809"
	c := broker.Conn{ModemID: 7, IMEI: imei, At: time.Now()}
	topic := protocol.CommandResultTopic(imei, "cmd-1")
	payload := resultPayload(1, "cmd-1", "succeeded")
	window := make(chan struct{}, 64)
	done := func(err error) {
		if err != nil {
			b.Error(err)
		}
		<-window
	}
	for b.Loop() {
		window <- struct{}{}
		if err := h.PublishAsync(context.Background(), c, topic, payload, 1, false, done); err != nil {
			b.Fatal(err)
		}
	}
	for range cap(window) {
		window <- struct{}{}
	}
	w.Close()
}
