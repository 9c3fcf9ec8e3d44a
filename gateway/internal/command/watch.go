package command

// watch is the waiters of one command: ch is closed when it ends.
type watch struct {
	ch chan struct{}
	n  int // waiters holding ch
}

// Watch returns a channel that is closed when the command reaches a final
// state through this process (a result from the modem, expiry, time-out), and
// a cancel func the caller must call when it stops waiting. Sent and
// acknowledged wake nobody: waiters want the outcome, and each wake costs a
// read. An end made by another gateway worker is not seen: a waiter must
// still re-read the store after a timeout.
//
// Register before reading the store, then wait: a change between the read
// and the wait then still closes the channel.
func (s *Service) Watch(id string) (<-chan struct{}, func()) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	w := s.watches[id]
	if w == nil {
		w = &watch{ch: make(chan struct{})}
		s.watches[id] = w
	}
	w.n++
	var once bool
	return w.ch, func() {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if once {
			return
		}
		once = true
		w.n--
		if w.n == 0 && s.watches[id] == w {
			delete(s.watches, id)
		}
	}
}

// ended wakes the waiters of the command.
func (s *Service) ended(id string) {
	s.wmu.Lock()
	w := s.watches[id]
	if w != nil {
		delete(s.watches, id)
	}
	s.wmu.Unlock()
	if w != nil {
		close(w.ch)
	}
}

// Stopping is closed by StopWatching: waiters should answer now with what
// they have (a graceful shutdown must not wait for long polls).
func (s *Service) Stopping() <-chan struct{} { return s.stopping }

// StopWatching ends every wait (see Stopping). It may be called more than once.
func (s *Service) StopWatching() {
	s.stopOnce.Do(func() { close(s.stopping) })
}
