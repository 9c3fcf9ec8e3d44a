// Package ingest turns modem uplinks into stored records. Its Writer is a
// bounded queue in front of the store that writes uplinks in batched
// transactions (group commit): a caller's Submit returns once its uplink is
// committed, so the MQTT acknowledgement that follows means "stored".
package ingest

import (
	"context"
	"errors"
	"sync"
	"time"

	"vendgate/gateway/internal/store"
)

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("ingest: writer closed")

// WriterConfig tunes the Writer.
type WriterConfig struct {
	QueueSize int // uplinks waiting at most (default 8192)
	MaxBatch  int // uplinks per transaction at most (default 512)
	// Linger, when positive, lets a small batch of uplinks that nobody waits
	// for end to end (heartbeats, presences, events: their modem waits only
	// for its acknowledgement) wait up to this long for more to join it,
	// until it holds LingerBelow uplinks (default 64, at most MaxBatch). A
	// transaction costs about as much as tens of such rows, so a fleet
	// whose uplinks arrive one at a time writes them in batches instead. A
	// command answer, or an uplink whose Submit waits, ends the wait at once
	// and is never held. Zero: every batch commits as soon as it is taken.
	Linger      time.Duration
	LingerBelow int
	// Observe, when set, is called after every commit, before the submitters
	// are told, with the batch size and the time each uplink waited from
	// Submit to commit. It must not keep the slice (the Writer reuses it).
	Observe func(n int, latencies []time.Duration)
}

// AsyncDone is told the outcome of an uplink queued with SubmitAsync: err is
// the commit's outcome, up the uplink as written (a presence's Received, a
// hello's phone may come from an uplink it was merged with). up is valid
// during the call only.
type AsyncDone func(up *store.Uplink, err error)

type item struct {
	up   store.Uplink
	at   time.Time
	done chan error // Submit: the commit's outcome; nil for the other kinds
	cb   AsyncDone  // SubmitAsync: called with the outcome on the completion goroutine
	// ff marks a fire-and-forget presence (Enqueue): only the newest presence
	// of a modem matters, so a batch skips it when a later presence of the
	// same modem with an epoch at least as new is in the same batch.
	ff   bool
	skip bool // left out of this batch by coalesce
	// counted marks an ordered uplink queued in the normal lane (see
	// Writer.ordered); the count drops once its batch committed.
	counted bool
	// also are uplinks of the latest lane that this one superseded: they are
	// not written, their submitters are told this one's outcome.
	also []item
}

// completion is one batch's callbacks with its outcome per uplink. The
// completion goroutine hands it back through Writer.spare once done, so its
// slices serve the batches after.
type completion struct {
	calls []asyncCall
	each  bool    // errs holds each call's outcome; otherwise err is every one's
	errs  []error // with each
	err   error
}

// asyncCall is a SubmitAsync callback with its uplink.
type asyncCall struct {
	cb AsyncDone
	up store.Uplink
}

// Writer batches uplinks into store transactions.
type Writer struct {
	st  store.Uplinks
	cfg WriterConfig
	q   chan item
	// pq is the priority lane: command answers (acks and results), which a
	// caller is waiting for end to end, join the next batch ahead of the
	// backlog (a reconnect storm queues thousands of presences and hellos).
	// Per modem, an answer never overtakes an uplink that it could depend
	// on: ordered counts, per modem, the events, vends, audits and answers
	// queued in the normal lane and not yet committed; an answer of a modem
	// with any goes to the normal lane, behind them (a data request's
	// "succeeded" comes after its audit, an "accepted" before its
	// "succeeded"). Presences, hellos and heartbeats carry nothing a command
	// answer relies on, and the presence epoch rules only compare presences
	// with each other, which keep their order in the normal lane.
	pq chan item
	// latest is the lane of the uplinks of which only a modem's newest one
	// counts: presences and hellos (latest.go). Pushing one never waits, so
	// a reconnecting modem's connection is never held back behind a storm's
	// backlog before its command subscription and its command answers.
	latest  latestLane
	omu     sync.Mutex
	ordered map[int64]int
	mu      sync.RWMutex // held for reading while sending to q; Close takes it for writing
	shut    bool
	stop    chan struct{}
	done    chan struct{}
	// Callbacks of SubmitAsync run on one completion goroutine, in commit
	// order, never on the writer's: they may read the store or write to a
	// socket, and the next batch must not wait for that. One goroutine (not
	// one per batch) keeps the callbacks of one modem in order, e.g. a
	// command's "accepted" is reported before its "succeeded".
	completions chan completion
	completed   chan struct{}
	spare       chan completion // done completions, emptied, for the next batches
	answered    func(answers []store.Uplink)
	answers     []store.Uplink
	lingerT     *time.Timer     // linger's, reused (the writer goroutine's only)
	lat         []time.Duration // Observe's latencies, reused (the writer goroutine's only)
}

// OnAnswers sets fn to be told of the command answers (result uplinks) of
// every committed batch, on the writer's goroutine, in commit order, before
// anyone waiting for them is told: the command service keeps the row of a
// command it sent in step with the store this way and finishes it without
// reading it back. fn must be quick, must not keep the slice and must not
// call the Writer. Call before Run.
func (w *Writer) OnAnswers(fn func(answers []store.Uplink)) {
	w.answered = fn
}

// NewWriter makes a Writer; call Run to start it.
func NewWriter(st store.Uplinks, cfg WriterConfig) *Writer {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if cfg.LingerBelow <= 0 {
		cfg.LingerBelow = 64
	}
	cfg.LingerBelow = min(cfg.LingerBelow, cfg.MaxBatch)
	return &Writer{st: st, cfg: cfg, q: make(chan item, cfg.QueueSize), pq: make(chan item, cfg.QueueSize),
		latest:  newLatestLane(),
		ordered: make(map[int64]int), stop: make(chan struct{}), done: make(chan struct{}),
		completions: make(chan completion, 64), completed: make(chan struct{}), spare: make(chan completion, 8)}
}

// Depth is the number of uplinks waiting.
func (w *Writer) Depth() int { return len(w.q) + len(w.pq) + w.latest.len() }

// Submit queues up and waits until it is committed or ctx ends. A full queue
// makes Submit wait (back-pressure on the modem's connection).
func (w *Writer) Submit(ctx context.Context, up store.Uplink) error {
	done := make(chan error, 1)
	if err := w.push(ctx, item{up: up, at: time.Now(), done: done}); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SubmitAsync queues up and returns without waiting for the commit; done is
// then called exactly once with the commit's outcome and the uplink, on the
// Writer's completion goroutine, in commit order (so in Submit order for one
// caller). Handing the uplink back saves a caller that needs it afterwards
// from keeping its own copy (in a closure: an allocation per uplink).
// A full queue makes SubmitAsync wait until ctx ends. When SubmitAsync
// returns an error (ctx ended, ErrClosed) done is not called.
//
// done may block briefly (the completion goroutine is shared); long work
// belongs in a goroutine of its own. Close waits for every done.
func (w *Writer) SubmitAsync(ctx context.Context, up store.Uplink, done AsyncDone) error {
	return w.push(ctx, item{up: up, at: time.Now(), cb: done})
}

// Enqueue queues up without waiting for the commit. A presence queued this
// way may be skipped when a newer presence of the same modem is written in
// the same transaction (only the newest presence of a modem matters).
func (w *Writer) Enqueue(ctx context.Context, up store.Uplink) error {
	return w.push(ctx, item{up: up, at: time.Now(), ff: up.Kind == store.UpPresence})
}

// orderedKind: uplinks a command answer may depend on, or be one.
func orderedKind(k store.UplinkKind) bool {
	switch k {
	case store.UpResult, store.UpEvent, store.UpVend, store.UpAudit:
		return true
	}
	return false
}

func (w *Writer) push(ctx context.Context, it item) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.shut {
		return ErrClosed
	}
	if latestKind(it.up.Kind) {
		return w.latest.push(ctx, it)
	}
	q := w.q
	if orderedKind(it.up.Kind) {
		m := it.up.ModemID
		w.omu.Lock()
		if it.up.Kind == store.UpResult && w.ordered[m] == 0 {
			q = w.pq
		} else {
			w.ordered[m]++
			it.counted = true
		}
		w.omu.Unlock()
	}
	select {
	case q <- it:
		return nil
	case <-ctx.Done():
		if it.counted {
			w.uncount([]item{it})
		}
		return ctx.Err()
	}
}

// uncount drops the ordered counts of the batch's normal-lane uplinks.
func (w *Writer) uncount(batch []item) {
	locked := false
	for _, it := range batch {
		if !it.counted {
			continue
		}
		if !locked {
			w.omu.Lock()
			locked = true
		}
		m := it.up.ModemID
		if w.ordered[m]--; w.ordered[m] <= 0 {
			delete(w.ordered, m)
		}
	}
	if locked {
		w.omu.Unlock()
	}
}

// Run writes batches until Close; it drains the queue before returning.
func (w *Writer) Run() {
	go w.complete()
	defer func() {
		close(w.completions)
		<-w.completed
		close(w.done)
	}()
	batch := make([]item, 0, w.cfg.MaxBatch)
	ups := make([]store.Uplink, 0, w.cfg.MaxBatch)
	for {
		var first item
		select {
		case first = <-w.pq:
		case first = <-w.q:
		case <-w.latest.wake:
			if batch = w.linger(w.fill(batch[:0])); len(batch) > 0 {
				w.commit(batch, ups[:0])
				clear(batch)
			}
			continue
		case <-w.stop:
			// Close holds no more senders: drain what is left.
			for {
				batch = w.fill(batch[:0])
				if len(batch) == 0 {
					return
				}
				w.commit(batch, ups[:0])
				clear(batch)
			}
		}
		batch = w.linger(w.fill(append(batch[:0], first)))
		w.commit(batch, ups[:0])
		clear(batch)
	}
}

// linger holds a batch smaller than cfg.LingerBelow, with nothing in it that
// a caller waits for end to end, until it has grown to LingerBelow, a
// command answer or a waiting Submit joins it, cfg.Linger has passed or the
// writer is closing; then it fills the batch again from every lane.
func (w *Writer) linger(batch []item) []item {
	if w.cfg.Linger <= 0 || len(batch) == 0 || len(batch) >= w.cfg.LingerBelow || waitedFor(batch) {
		return batch
	}
	if w.lingerT == nil {
		w.lingerT = time.NewTimer(w.cfg.Linger)
	} else {
		w.lingerT.Reset(w.cfg.Linger)
	}
	defer w.lingerT.Stop()
	for len(batch)+w.latest.len() < w.cfg.LingerBelow {
		select {
		case it := <-w.pq:
			return w.fill(append(batch, it))
		case it := <-w.q:
			batch = append(batch, it)
			if waitedFor(batch[len(batch)-1:]) {
				return w.fill(batch)
			}
		case <-w.latest.wake:
		case <-w.lingerT.C:
			return w.fill(batch)
		case <-w.stop:
			return w.fill(batch)
		}
	}
	return w.fill(batch)
}

// waitedFor: the batch holds a command answer, which a REST caller waits
// for, or an uplink whose Submit waits for the commit.
func waitedFor(batch []item) bool {
	for i := range batch {
		if batch[i].up.Kind == store.UpResult || batch[i].done != nil {
			return true
		}
	}
	return false
}

// fill adds to batch what waits: answers first (at most half a batch, so the
// backlog always moves), then the latest lane and the normal lane sharing the
// rest, then answers again while there is room. An answer in the priority
// lane has no earlier uplink of its modem left uncommitted that it must
// follow (push), so placing it ahead is safe; the latest lane holds nothing
// an uplink of another lane depends on.
func (w *Writer) fill(batch []item) []item {
	take := func(q chan item, limit int) {
		for len(batch) < limit {
			select {
			case it := <-q:
				batch = append(batch, it)
			default:
				return
			}
		}
	}
	take(w.pq, max(w.cfg.MaxBatch/2, 1))
	batch = w.latest.take(batch, len(batch)+max((w.cfg.MaxBatch-len(batch))/2, 1))
	take(w.q, w.cfg.MaxBatch)
	batch = w.latest.take(batch, w.cfg.MaxBatch)
	take(w.pq, w.cfg.MaxBatch)
	return batch
}

// complete runs the SubmitAsync callbacks of committed batches, in order.
func (w *Writer) complete() {
	defer close(w.completed)
	for c := range w.completions {
		for i := range c.calls {
			err := c.err
			if c.each {
				err = c.errs[i]
			}
			c.calls[i].cb(&c.calls[i].up, err)
		}
		w.recycle(c)
	}
}

// recycle empties c and keeps it for a later batch, if there is room.
func (w *Writer) recycle(c completion) {
	clear(c.calls) // the callbacks and uplinks are not kept alive
	clear(c.errs)
	c = completion{calls: c.calls[:0], errs: c.errs[:0]}
	select {
	case w.spare <- c:
	default:
	}
}

// newCompletion returns an empty completion, a recycled one when there is.
func (w *Writer) newCompletion() completion {
	select {
	case c := <-w.spare:
		return c
	default:
		return completion{}
	}
}

// coalesce returns the uplinks of batch to write: a fire-and-forget presence
// is left out when a later presence of the same modem, with an epoch at least
// as new, follows in the batch (the store applies presences in order and
// ignores older epochs, so the result is the same). In a reconnect storm
// every connect brings the broker's presence and the modem's own state.
func coalesce(batch []item, ups []store.Uplink) []store.Uplink {
	type seen struct {
		epoch uint64 // highest presence epoch of the modem so far, scanning backwards
		kept  int    // index of the latest presence of the modem kept
	}
	var newest map[int64]seen
	for i := len(batch) - 1; i >= 0; i-- {
		u := batch[i].up
		if u.Kind != store.UpPresence || u.Presence == nil {
			continue
		}
		if newest == nil {
			newest = make(map[int64]seen)
		}
		n, ok := newest[u.ModemID]
		if ok && batch[i].ff && n.epoch >= u.Presence.Epoch {
			batch[i].skip = true
			// Its arrival still counts for last_seen: the kept one carries it.
			if k := &batch[n.kept].up; u.Received.After(k.Received) {
				k.Received = u.Received
			}
			continue
		}
		if !ok {
			n.kept = i
		}
		n.epoch = max(n.epoch, u.Presence.Epoch)
		newest[u.ModemID] = n
	}
	for _, it := range batch {
		if !it.skip {
			ups = append(ups, it.up)
		}
	}
	return ups
}

func (w *Writer) commit(batch []item, ups []store.Uplink) {
	ups = coalesce(batch, ups)
	err := w.st.ApplyUplinks(context.Background(), ups)
	var errs []error
	if err != nil && len(ups) > 1 {
		// One bad uplink must not fail the others: retry one by one.
		errs = make([]error, len(batch))
		for i, it := range batch {
			if !it.skip {
				errs[i] = w.st.ApplyUplinks(context.Background(), []store.Uplink{it.up})
			}
		}
	}
	if w.answered != nil {
		w.answers = w.answers[:0]
		for i, it := range batch {
			if it.up.Kind != store.UpResult || it.skip || err != nil && (errs == nil || errs[i] != nil) {
				continue
			}
			w.answers = append(w.answers, it.up)
		}
		if len(w.answers) > 0 {
			w.answered(w.answers)
			clear(w.answers)
		}
	}
	// Observed before anyone is told: a metric read right after an
	// acknowledgement counts the uplink (TestSubmitMeansCommitted relies on it).
	if w.cfg.Observe != nil && errs == nil && err == nil {
		now := time.Now()
		w.lat = w.lat[:0]
		for _, it := range batch {
			w.lat = append(w.lat, now.Sub(it.at))
		}
		w.cfg.Observe(len(batch), w.lat)
	}
	c := w.newCompletion()
	c.each = errs != nil
	for i, it := range batch {
		e := err
		if errs != nil {
			e = errs[i]
		}
		tell(&c, it, e)
		for _, a := range it.also {
			tell(&c, a, e)
		}
	}
	if len(c.calls) > 0 {
		c.err = err
		w.completions <- c
	} else {
		w.recycle(c)
	}
	// After the submitters are told: an answer that arrives from now on may
	// go ahead, this batch's uplinks are visible.
	w.uncount(batch)
}

// tell passes e to the submitter of it: a Submit's channel now, a
// SubmitAsync's callback through c (the completion goroutine).
func tell(c *completion, it item, e error) {
	switch {
	case it.done != nil:
		it.done <- e
	case it.cb != nil:
		c.calls = append(c.calls, asyncCall{cb: it.cb, up: it.up})
		if c.each {
			c.errs = append(c.errs, e)
		}
	}
}

// Close stops accepting uplinks, waits until everything queued is written and
// Run has returned. It is safe to call more than once.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.shut {
		w.shut = true
		close(w.stop)
	}
	w.mu.Unlock()
	<-w.done
}
