package command

import (
	"sync"

	"vendgate/gateway/internal/store"
)

// finalCacheSize bounds the commands Final remembers: a few seconds of
// results at a thousand commands a second, enough for the long polls that
// wait on them.
const finalCacheSize = 8192

// finalCache is a bounded map of ended commands, the oldest forgotten first.
// Only final states go in: the store never changes a command once it is
// succeeded, failed, rejected, expired or timed_out (every write is guarded by
// a live state), so an entry can never be stale, whichever gateway worker
// sharing the store reads it.
//
// Entries are pointers that nobody changes once put (a map of values this
// large would box a copy of each anyway), so ResultStored hands over the row
// it held without copying it.
type finalCache struct {
	mu   sync.Mutex
	m    map[string]*store.Command
	ring []string // ids in insertion order; next is the slot to reuse
	next int
}

func newFinalCache(n int) finalCache {
	return finalCache{m: make(map[string]*store.Command, n), ring: make([]string, n)}
}

// put keeps c, a final command nobody changes afterwards.
func (f *finalCache) put(c *store.Command) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[c.ID]; ok {
		return
	}
	if old := f.ring[f.next]; old != "" {
		delete(f.m, old)
	}
	f.ring[f.next] = c.ID
	f.next = (f.next + 1) % len(f.ring)
	f.m[c.ID] = c
}

func (f *finalCache) get(id string) (store.Command, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.m[id]
	if !ok {
		return store.Command{}, false
	}
	return *c, true
}

// remember keeps a copy of c for Final when it is final.
func (s *Service) remember(c store.Command) {
	if c.State.Terminal() {
		s.final.put(&c)
	}
}

// Final returns the command as this process last saw it end (a result it
// stored, an expiry, a time-out), if it is among the last few thousand. A
// final command never changes in the store, so the answer is what GetCommand
// would return, without the read; false means: read the store.
func (s *Service) Final(id string) (store.Command, bool) {
	return s.final.get(id)
}
