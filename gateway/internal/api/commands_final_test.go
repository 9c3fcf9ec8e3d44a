package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

// finalCommander is a commander that remembers ended commands (FinalCommands)
// and wakes waiters (CommandWatcher), like the command service.
type finalCommander struct {
	*fakeCommander
	mu      sync.Mutex
	final   map[string]store.Command
	live    map[string]store.Command
	ch      chan struct{}
	reads   int
	watches int
}

func (f *finalCommander) Live(id string) (store.Command, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.live[id]
	return c, ok
}

func (f *finalCommander) Final(id string) (store.Command, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	c, ok := f.final[id]
	return c, ok
}

func (f *finalCommander) Watch(string) (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watches++
	return f.ch, func() {}
}

func (f *finalCommander) watchCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watches
}

func (f *finalCommander) Stopping() <-chan struct{} { return nil }

// end records c as ended and wakes the waiters.
func (f *finalCommander) end(c store.Command) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.final[c.ID] = c
	close(f.ch)
	f.ch = make(chan struct{})
}

// wake wakes the waiters without an end.
func (f *finalCommander) wake() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.ch)
	f.ch = make(chan struct{})
}

func TestCommandGetAnswersFromFinal(t *testing.T) {
	t.Parallel()
	fc := &finalCommander{final: map[string]store.Command{}, live: map[string]store.Command{}, ch: make(chan struct{})}
	e := newEnv(t, func(c *Config) {
		fc.fakeCommander = c.Commands.(*fakeCommander)
		c.Commands = fc
	})
	m := e.modem("860000000000009", 1)
	vm := e.machine("VM", 1, m.ID, "")
	accessGrant(t, e, e.oper, vm)
	post := func() string {
		r := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID), e.operTok, nil)
		require.Equal(t, http.StatusOK, r.Status)
		return r.obj(t)["command_id"].(string)
	}
	ended := func(id string) store.Command {
		c, err := e.st.GetCommand(context.Background(), id)
		require.NoError(t, err)
		c.State, c.Status, c.DoneAt = store.CmdSucceeded, "succeeded", t0.Add(time.Second)
		return c
	}

	// waiting starts a long poll of id and returns its answer channel once the
	// waiter has read the command (queued) after watching number watch.
	waiting := func(id string, watch int) <-chan resp {
		reads := func() int { fc.mu.Lock(); defer fc.mu.Unlock(); return fc.reads }
		before := reads()
		done := make(chan resp, 1)
		go func() { done <- e.do("GET", "/v2/commands/"+id+"?wait=20", e.operTok, nil) }()
		require.Eventually(t, func() bool { return reads() >= before+2 && fc.watchCount() == watch },
			5*time.Second, time.Millisecond)
		return done
	}
	answered := func(done <-chan resp) resp {
		select {
		case r := <-done:
			require.Equal(t, http.StatusOK, r.Status)
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("the wait did not end at the wake")
			return resp{}
		}
	}

	t.Run("woken", func(t *testing.T) {
		id := post()
		w0 := fc.watchCount()
		done := waiting(id, w0+1)
		fc.end(ended(id))
		require.Equal(t, "succeeded", answered(done).obj(t)["state"], "answered from the ended command")
		require.Equal(t, w0+1, fc.watchCount(), "the end needs no new watch")
	})
	t.Run("woken without an end", func(t *testing.T) {
		id := post()
		w0 := fc.watchCount()
		done := waiting(id, w0+1)
		fc.wake() // not ended: the waiter watches again and keeps waiting
		require.Eventually(t, func() bool { return fc.watchCount() == w0+2 }, 5*time.Second, time.Millisecond)
		select {
		case r := <-done:
			t.Fatalf("answered at a wake without an end: %s", r.Raw)
		case <-time.After(50 * time.Millisecond):
		}
		fc.end(ended(id))
		require.Equal(t, "succeeded", answered(done).obj(t)["state"])
	})
	t.Run("already ended", func(t *testing.T) {
		id := post()
		fc.end(ended(id))
		w0 := fc.watchCount()
		for _, q := range []string{"", "?wait=20"} {
			r := e.do("GET", "/v2/commands/"+id+q, e.operTok, nil)
			require.Equal(t, http.StatusOK, r.Status)
			require.Equal(t, "succeeded", r.obj(t)["state"])
			require.Equal(t, "2024-05-10T12:00:01+00:00", r.obj(t)["done_at"])
			// Still only for callers who see the command.
			requireError(t, e.do("GET", "/v2/commands/"+id+q, e.otherTok, nil), http.StatusNotFound, SubNotFound)
		}
		require.Equal(t, w0, fc.watchCount(), "an ended command is answered without a watch")
	})
}

// A long poll of a command the Commander has in flight starts without a read
// but never answers the remembered copy: the answer is read when the wait
// ends. Without a wait, the store is read.
func TestCommandGetLiveIsNeverAnswered(t *testing.T) {
	t.Parallel()
	fc := &finalCommander{final: map[string]store.Command{}, live: map[string]store.Command{}, ch: make(chan struct{})}
	e := newEnv(t, func(c *Config) {
		fc.fakeCommander = c.Commands.(*fakeCommander)
		c.Commands = fc
	})
	m := e.modem("860000000000010", 1)
	vm := e.machine("VM", 1, m.ID, "")
	accessGrant(t, e, e.oper, vm)
	r := e.do("POST", fmt.Sprintf("/v2/vending_machines/%d/reset", vm.ID), e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	id := r.obj(t)["command_id"].(string)
	stored, err := e.st.GetCommand(context.Background(), id)
	require.NoError(t, err)
	remembered := stored
	remembered.State, remembered.Attempts = store.CmdSent, 7 // differs from the store (queued, 0)
	fc.mu.Lock()
	fc.live[id] = remembered
	fc.mu.Unlock()

	start := time.Now()
	r = e.do("GET", "/v2/commands/"+id+"?wait=1", e.operTok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "queued", r.obj(t)["state"], "the store's state at the deadline")
	require.EqualValues(t, 0, num(r.obj(t)["attempts"]))
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "waited")

	r = e.do("GET", "/v2/commands/"+id, e.operTok, nil)
	require.Equal(t, "queued", r.obj(t)["state"], "no wait: the store")
	// The remembered copy does not bypass visibility.
	requireError(t, e.do("GET", "/v2/commands/"+id+"?wait=1", e.otherTok, nil), http.StatusNotFound, SubNotFound)
}
