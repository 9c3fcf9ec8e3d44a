package ingest

import (
	"context"
	"sync"

	"vendgate/gateway/internal/store"
)

// maxAlso bounds how many superseded uplinks one waiting uplink of the latest
// lane carries; beyond it pushing waits (back-pressure).
const maxAlso = 16

// latestKind reports whether only the newest uplink of this kind per modem
// counts, so a newer one may replace an older one still waiting.
//   - Presence: the store keeps the modem's online flag and epoch; a presence
//     with an older epoch than the stored one is ignored, any other sets both.
//     Applying a waiting presence and then a newer one therefore leaves the
//     newer one's values when its epoch is at least the waiting one's, and
//     the waiting one's otherwise.
//   - Hello: the modem's identity fields; a later hello overwrites an earlier
//     one, except that an empty phone keeps the phone stored before.
//
// Neither kind has a history or anything another uplink depends on.
func latestKind(k store.UplinkKind) bool {
	return k == store.UpPresence || k == store.UpHello
}

type latestKey struct {
	modem int64
	kind  store.UplinkKind
}

// latestLane holds at most one waiting uplink per modem and kind, in arrival
// order; a newer one merges into the one waiting (supersede). It is bounded by
// the number of modems, so pushing never waits: a reconnect storm's
// presences and hellos (three per modem) do not hold the modems' read loops,
// which then reach the command subscription and the command answers behind
// them at once instead of after the backlog.
type latestLane struct {
	mu    sync.Mutex
	slots map[latestKey]*item
	order []*item // FIFO of the waiting items; order[head:] are live
	head  int
	wake  chan struct{} // capacity 1: the lane has something
	// taken, when someone waits in push, is closed by the next take.
	taken chan struct{}
	// peak is the most items waiting since the map was last made: a Go map
	// keeps its size after deletes, so a storm's map is dropped once empty.
	peak int
}

func newLatestLane() latestLane {
	return latestLane{slots: make(map[latestKey]*item), wake: make(chan struct{}, 1)}
}

func (l *latestLane) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.order) - l.head
}

// push queues it or merges it into the waiting uplink of its modem and kind.
// When that one carries maxAlso merged ones already, or must be written
// before it (mergeable), push waits until it is taken into a batch (a modem
// publishing hellos faster than they are written is held back like any
// other) or ctx ends.
func (l *latestLane) push(ctx context.Context, it item) error {
	k := latestKey{it.up.ModemID, it.up.Kind}
	for {
		l.mu.Lock()
		cur := l.slots[k]
		switch {
		case cur == nil:
			p := new(item)
			*p = it
			l.slots[k] = p
			l.order = append(l.order, p)
			l.peak = max(l.peak, len(l.order)-l.head)
		case len(cur.also) < maxAlso && mergeable(cur, it):
			supersede(cur, it)
		default:
			if l.taken == nil {
				l.taken = make(chan struct{})
			}
			taken := l.taken
			l.mu.Unlock()
			select {
			case <-taken:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		l.mu.Unlock()
		l.signal()
		return nil
	}
}

func (l *latestLane) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// mergeable reports whether next may merge into the waiting cur. A presence
// the modem sent itself (its state, its will: not fire-and-forget) is
// written even when a newer connection's presence follows, so that a drop
// stays visible (machine state 3) until the modem is back, as it did when
// only one batch's presences were coalesced; the newer one waits for it to be
// taken. The broker's own presences only say what the newest says.
func mergeable(cur *item, next item) bool {
	if next.up.Kind != store.UpPresence {
		return true
	}
	c, n := cur.up.Presence, next.up.Presence
	switch {
	case n.Epoch < c.Epoch:
		return true // the store would ignore next after cur
	case cur.ff:
		return true
	default:
		return n.Epoch == c.Epoch && n.Online == c.Online
	}
}

// supersede merges next, which arrived after cur, into cur: cur then holds
// the uplink whose writing leaves the store as writing both in arrival order
// would, and carries the other one's submitter in also.
func supersede(cur *item, next item) {
	old, nu := cur.up, next.up
	replace := true
	if nu.Kind == store.UpPresence && nu.Presence.Epoch < old.Presence.Epoch {
		replace = false // the store would ignore next after cur
	}
	if !replace {
		if nu.Received.After(old.Received) {
			cur.up.Received = nu.Received // last_seen: the newest sign of life
		}
		next.also = nil
		cur.also = append(cur.also, next)
		return
	}
	if nu.Kind == store.UpHello && nu.Hello.Phone == "" && old.Hello.Phone != "" {
		h := *nu.Hello
		h.Phone = old.Hello.Phone
		nu.Hello = &h
	}
	if old.Received.After(nu.Received) {
		nu.Received = old.Received
	}
	also := append(cur.also, *cur)
	also[len(also)-1].also = nil
	ff := cur.ff && next.ff // a modem's own presence stays its own (mergeable)
	*cur = next
	cur.up = nu
	cur.also = also
	cur.ff = ff
}

// take moves waiting uplinks, oldest first, into batch until it holds limit.
func (l *latestLane) take(batch []item, limit int) []item {
	l.mu.Lock()
	for len(batch) < limit && l.head < len(l.order) {
		p := l.order[l.head]
		l.order[l.head] = nil
		l.head++
		delete(l.slots, latestKey{p.up.ModemID, p.up.Kind})
		batch = append(batch, *p)
	}
	if l.taken != nil {
		close(l.taken)
		l.taken = nil
	}
	left := len(l.order) - l.head
	switch {
	case left == 0 && l.peak > 4096:
		l.slots, l.order, l.head, l.peak = make(map[latestKey]*item), nil, 0, 0
	case left == 0:
		l.order, l.head = l.order[:0], 0
	case l.head > 1024 && l.head > left:
		n := copy(l.order, l.order[l.head:])
		clear(l.order[n:])
		l.order, l.head = l.order[:n], 0
	}
	l.mu.Unlock()
	if left > 0 {
		l.signal() // the rest goes in a later batch
	}
	return batch
}
