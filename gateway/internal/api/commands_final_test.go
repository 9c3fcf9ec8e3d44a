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
	mu    sync.Mutex
	final map[string]store.Command
	live  map[string]store.Command
	ch    chan struct{}
	reads int
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
	return f.ch, func() {}
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

	t.Run("woken", func(t *testing.T) {
		id := post()
		done := make(chan resp, 1)
		go func() { done <- e.do("GET", "/v2/commands/"+id+"?wait=20", e.operTok, nil) }()
		// The waiter has read the store (queued) before it is woken.
		require.Eventually(t, func() bool { fc.mu.Lock(); defer fc.mu.Unlock(); return fc.reads > 0 },
			5*time.Second, time.Millisecond)
		fc.end(ended(id))
		select {
		case r := <-done:
			require.Equal(t, http.StatusOK, r.Status)
			require.Equal(t, "succeeded", r.obj(t)["state"], "answered from the ended command")
		case <-time.After(10 * time.Second):
			t.Fatal("the wait did not end at the wake")
		}
	})
	t.Run("already ended", func(t *testing.T) {
		id := post()
		fc.end(ended(id))
		r := e.do("GET", "/v2/commands/"+id, e.operTok, nil)
		require.Equal(t, http.StatusOK, r.Status)
		require.Equal(t, "succeeded", r.obj(t)["state"])
		require.Equal(t, "2024-05-10T12:00:01+00:00", r.obj(t)["done_at"])
		// Still only for callers who see the command.
		requireError(t, e.do("GET", "/v2/commands/"+id, e.otherTok, nil), http.StatusNotFound, SubNotFound)
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
