package command

import (
	"context"
	"errors"
	"time"

	"vendgate/gateway/internal/store"
)

// refenceEvery bounds how often a broken fence is replaced: each time costs a
// read of every modem with unfinished commands, and while another process
// keeps writing to the same database it breaks again soon after.
const refenceEvery = 5 * time.Second

// startFence starts a store fence when the store offers them; nil otherwise
// (or on error: the service then only sends directly on verified
// connections, as without one).
func (s *Service) startFence(ctx context.Context) store.CommandFence {
	if s.fencer == nil {
		return nil
	}
	f, err := s.fencer.CommandFence(ctx)
	if err != nil {
		s.log.Warn("command fence", "err", err)
		return nil
	}
	return f
}

// currentFence is the fence in force, nil when there is none.
func (s *Service) currentFence() store.CommandFence {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fence
}

// creator is where Submit creates commands: through the fence when there is
// one, so that they count as this service's own and do not break it.
func (s *Service) creator() interface {
	CreateCommand(ctx context.Context, c store.Command) (store.Command, bool, error)
} {
	if f := s.currentFence(); f != nil {
		return f
	}
	return s.st
}

// writes is where the service changes commands: through the fence when there
// is one, so that its own writes do not break it.
func (s *Service) writes() interface {
	MarkSent(ctx context.Context, id string, at time.Time) error
	Finish(ctx context.Context, id string, state store.CommandState, msg string, at time.Time) error
	ExpireDue(ctx context.Context, now time.Time) ([]store.Command, error)
} {
	if f := s.currentFence(); f != nil {
		return f
	}
	return s.st
}

// fenceBroken drops f after someone else's write broke it; sweep takes a new
// one.
func (s *Service) fenceBroken(f store.CommandFence) {
	s.mu.Lock()
	if s.fence == f {
		s.fence = nil
	}
	s.mu.Unlock()
	s.log.Debug("command fence broken: another writer created commands")
}

// renewFence replaces a broken fence: a new fence, then a read of the modems
// with unfinished commands, which joins the pending set (a superset stays
// sound: never removed here). Modems that thereby became pending are kicked,
// so that a command another writer queued for a modem connected here goes
// out.
func (s *Service) renewFence(ctx context.Context) {
	s.mu.Lock()
	due := s.fencer != nil && s.loaded && s.fence == nil && !s.cfg.Now().Before(s.refence)
	if due {
		s.refence = s.cfg.Now().Add(refenceEvery)
	}
	s.mu.Unlock()
	if !due {
		return
	}
	f := s.startFence(ctx)
	if f == nil {
		return
	}
	ids, err := s.st.UnfinishedModems(ctx)
	if err != nil {
		s.log.Warn("reload modems with unfinished commands", "err", err)
		return
	}
	var kick []int64
	s.mu.Lock()
	for _, id := range ids {
		if _, ok := s.pending[id]; !ok {
			kick = append(kick, id)
		}
		s.pending[id]++
	}
	s.fence = f
	s.mu.Unlock()
	for _, id := range kick {
		s.Kick(id)
	}
}

// isFenceBroken reports a fenced write refused.
func isFenceBroken(err error) bool { return errors.Is(err, store.ErrFenceBroken) }
