package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

const msgCommandNotFound = "Command not found"

// IdempotencyHeader optionally carries a client-chosen key for the commands a
// request submits (vendgate extension): retrying the request with the same key
// submits nothing new. The command id is the key (or key.name for /set, which
// may submit several).
const IdempotencyHeader = "Idempotency-Key"

// keyRe is the protocol's id alphabet, with room left for ".cashless_address".
var keyRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,40}$`)

func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get(IdempotencyHeader)
	if k == "" {
		return "", nil
	}
	if !keyRe.MatchString(k) {
		return "", errBadRequest("The Idempotency-Key header must be 1..40 of [A-Za-z0-9_.:-].")
	}
	return k, nil
}

// submit hands a command to the Commander.
func (s *server) submit(r *http.Request, sess *session, id string, modemID, vmID int64, name protocol.CommandName, args any) (store.Command, error) {
	cmd, _, err := s.cfg.Commands.Submit(r.Context(), CommandRequest{
		ID: id, ModemID: modemID, VMID: vmID, UserID: sess.User.ID,
		Name: name, Args: args, TTL: s.cfg.CommandTTL,
	})
	if errors.Is(err, store.ErrConflict) {
		return store.Command{}, errStatus(http.StatusConflict, SubConflict, "The command id is already used by another command.")
	}
	return cmd, err
}

// commandJSON is a command (vendgate extension).
type commandJSON struct {
	ID        string          `json:"id"`
	ModemID   int64           `json:"modem_id"`
	VMID      *int64          `json:"vm_id"`
	Name      string          `json:"name"`
	Args      json.RawMessage `json:"args"`
	State     string          `json:"state"`
	Status    *string         `json:"status"`
	Code      int             `json:"code"`
	Message   *string         `json:"message"`
	Result    json.RawMessage `json:"result"`
	Attempts  int             `json:"attempts"`
	CreatedAt *string         `json:"created_at"`
	SentAt    *string         `json:"sent_at"`
	AckedAt   *string         `json:"acked_at"`
	DoneAt    *string         `json:"done_at"`
	ExpiresAt *string         `json:"expires_at"`
}

// rawOrNull keeps valid stored JSON and turns anything else into null.
func rawOrNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return json.RawMessage("null")
	}
	return b
}

func toCommandJSON(c store.Command) commandJSON {
	out := commandJSON{
		ID: c.ID, ModemID: c.ModemID, Name: c.Name, Args: rawOrNull(c.Args), State: string(c.State),
		Status: nullStr(c.Status), Code: c.Code, Message: nullStr(c.Message), Result: rawOrNull(c.Result),
		Attempts: c.Attempts, CreatedAt: fmtTime(c.CreatedAt, nil), SentAt: fmtTime(c.SentAt, nil),
		AckedAt: fmtTime(c.AckedAt, nil), DoneAt: fmtTime(c.DoneAt, nil), ExpiresAt: fmtTime(c.ExpiresAt, nil),
	}
	if c.VMID != 0 {
		vm := c.VMID
		out.VMID = &vm
	}
	return out
}

// CommandWatcher is implemented by a Commander that can tell when a command
// ends; GET /v2/commands/{id}?wait=N uses it to answer as soon as the
// command is final instead of making the client poll.
type CommandWatcher interface {
	// Watch returns a channel closed when the command reaches a final state,
	// and a cancel func to call when the caller stops waiting.
	Watch(id string) (<-chan struct{}, func())
	// Stopping is closed when the gateway shuts down: waits end at once.
	Stopping() <-chan struct{}
}

// FinalCommands is implemented by a Commander that remembers the commands it
// saw end. A final command never changes, so its answer is what the store
// would return: GET /v2/commands/{id} then skips the read.
type FinalCommands interface {
	Final(id string) (store.Command, bool)
}

// LiveCommands is implemented by a Commander that knows some commands it has
// in flight. A long poll of one starts waiting without reading the store: the
// command is not final (or its end is about to wake the waiter), and the
// store is read when the wait ends, so the answer is never the remembered
// state.
type LiveCommands interface {
	Live(id string) (store.Command, bool)
}

// MaxCommandWait is the longest ?wait of GET /v2/commands/{id}, in seconds
// (below the HTTP server's write timeout).
const MaxCommandWait = 30

// handleCommandGet is GET /v2/commands/{id}; commands of another company's
// modems are not found. With ?wait=N (vendgate extension, 1..60 seconds) the
// answer waits until the command is final (succeeded, failed, rejected,
// expired, timed_out) or N seconds have passed, then returns its state either
// way — long polling for clients that would otherwise poll every few ms.
func (s *server) handleCommandGet(w http.ResponseWriter, r *http.Request, sess *session) error {
	id := r.PathValue("id")
	if len(id) == 0 || len(id) > 64 {
		return errNotFound(msgCommandNotFound)
	}
	wait, err := commandWait(r)
	if err != nil {
		return err
	}
	finals, _ := s.cfg.Commands.(FinalCommands)
	get := func() (store.Command, error) {
		if finals != nil {
			if c, ok := finals.Final(id); ok {
				return c, nil
			}
		}
		return s.cfg.Store.GetCommand(r.Context(), id)
	}
	// A command the Commander remembers ending is final: nothing to wait for.
	if finals != nil {
		if c, ok := finals.Final(id); ok {
			if err := s.canSeeCommand(r, sess, c); err != nil {
				return err
			}
			writeCommandJSON(w, c)
			return nil
		}
	}
	watcher, _ := s.cfg.Commands.(CommandWatcher)
	var (
		changed, stopping <-chan struct{}
		cancel            = func() {}
	)
	if wait > 0 && watcher != nil {
		stopping = watcher.Stopping()
		// Watch before the first read, so a change between the read and the
		// wait is not missed.
		changed, cancel = watcher.Watch(id)
	}
	defer func() { cancel() }()
	// A command the Commander has in flight needs no first read before a
	// wait: it is not final, and the loop below reads it when the wait ends.
	var c store.Command
	live, _ := s.cfg.Commands.(LiveCommands)
	if lc, ok := liveCommand(live, id, changed != nil); ok {
		c = lc
	} else {
		c, err = get()
	}
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound(msgCommandNotFound)
	}
	if err != nil {
		return err
	}
	if err := s.canSeeCommand(r, sess, c); err != nil {
		return err
	}
	if wait > 0 && !c.State.Terminal() {
		deadline := startWaitTimer(wait)
		defer stopWaitTimer(deadline)
		// Without a watcher the store is re-read every second. With one, the
		// store is read at each change and once more at the end, which also
		// catches a change made by another gateway worker.
		var tick <-chan time.Time
		if watcher == nil {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			tick = t.C
		}
		final := false
		for !c.State.Terminal() && !final {
			woken := false
			select {
			case <-r.Context().Done(): // the client went away
				return nil
			case <-stopping: // shutting down: answer with what we have
				final = true
			case <-deadline.C:
				final = true
			case <-changed:
				woken = true
			case <-tick:
			}
			if c, err = get(); err != nil {
				return err
			}
			if woken && !c.State.Terminal() {
				// Watch wakes at an end, which the read above normally
				// sees; if not, watch anew, then read again.
				cancel()
				changed, cancel = watcher.Watch(id)
				if c, err = get(); err != nil {
					return err
				}
			}
		}
	}
	writeCommandJSON(w, c)
	return nil
}

// waitTimers recycles the deadline timers of long polls (one per wait
// otherwise). Since Go 1.23 (this module's go line) Stop and Reset leave no
// stale tick in a timer's channel, so a recycled timer fires only for its new
// wait.
var waitTimers sync.Pool

// startWaitTimer returns a timer firing after d; give it back with
// stopWaitTimer.
func startWaitTimer(d time.Duration) *time.Timer {
	if t, ok := waitTimers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// stopWaitTimer stops t and recycles it; t must not be used afterwards.
func stopWaitTimer(t *time.Timer) {
	t.Stop()
	waitTimers.Put(t)
}

// liveCommand is the Commander's in-flight copy of the command when a wait
// (waiting) will follow; it is never final, so the wait runs and ends with a
// read.
func liveCommand(live LiveCommands, id string, waiting bool) (store.Command, bool) {
	if live == nil || !waiting {
		return store.Command{}, false
	}
	c, ok := live.Live(id)
	if !ok || c.State.Terminal() {
		return store.Command{}, false
	}
	return c, true
}

// commandWait reads ?wait (whole seconds, 0..MaxCommandWait).
func commandWait(r *http.Request) (time.Duration, error) {
	q := queryValue(r.URL.RawQuery, "wait")
	if q == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 0 || n > MaxCommandWait {
		return 0, errValidation(map[string][]string{"wait": {"The wait must be an integer between 0 and " +
			strconv.Itoa(MaxCommandWait) + "."}})
	}
	return time.Duration(n) * time.Second, nil
}

// canSeeCommand answers not found for a command of a modem or machine the
// caller does not see.
func (s *server) canSeeCommand(r *http.Request, sess *session, c store.Command) error {
	// An admin or senior operator sees every command of their company's
	// modems: the modem's company decides, and it never changes
	// (modemCompanyCache), so a known one needs no read.
	if seesCompany(sess.User) {
		if company, ok := s.modemCos.get(c.ModemID); ok {
			if company != sess.User.CompanyID {
				return errNotFound(msgCommandNotFound)
			}
			return nil
		}
	}
	if _, err := s.modemFor(r, sess, c.ModemID); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return errNotFound(msgCommandNotFound)
		}
		return err
	}
	// A command about a machine is that machine's data, even when its modem
	// has since moved to a machine the caller sees.
	if c.VMID != 0 && !seesCompany(sess.User) {
		vm, err := s.cfg.Store.GetMachine(r.Context(), c.VMID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !s.canSeeMachine(r.Context(), sess.User, vm)) {
			return errNotFound(msgCommandNotFound)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Limits of GET /v2/modems/{id}/commands.
const (
	defaultCommandLimit = 50
	maxCommandLimit     = 500
)

// handleModemCommands is GET /v2/modems/{id}/commands?limit=N, newest first.
func (s *server) handleModemCommands(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r, "id", msgModemNotFound)
	if err != nil {
		return err
	}
	limit := defaultCommandLimit
	if q := queryValue(r.URL.RawQuery, "limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > maxCommandLimit {
			return errBadRequest("The limit parameter must be an integer from 1 to " + strconv.Itoa(maxCommandLimit) + ".")
		}
		limit = n
	}
	m, err := s.modemFor(r, sess, id)
	if err != nil {
		return err
	}
	cs, err := s.cfg.Store.ListCommands(r.Context(), m.ID, limit)
	if err != nil {
		return err
	}
	out := make([]commandJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toCommandJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
