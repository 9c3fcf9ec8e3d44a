package command

import (
	"context"
	"time"

	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

// sentCreator is a store that can insert a command already sent, in one write
// (the sqlite store's CreateSentCommand). With it, a command for a connected
// modem with nothing unfinished costs one write and no read before it goes
// out, instead of a create, a dispatch read and a mark-sent write.
type sentCreator interface {
	CreateSentCommand(ctx context.Context, c store.Command, at time.Time) (store.Command, bool, error)
}

// soloCmd is a command Submit sends itself (see Service.solo). gen is the
// modem's pending generation it was claimed at: when the command ends and no
// other command came since, the modem has nothing unfinished.
type soloCmd struct {
	id    string
	gen   uint64
	ready bool // stored (and tracked as in flight)
	// c is the command as this process knows it, once ready: as stored
	// (sent), then, when it is its flight's row (sent under a fence), as
	// the answers changed it (answer.go). Written only under mu, and never
	// once the flight is dropped.
	c store.Command
}

// submitDirect stores c as sent and publishes it when its modem is connected
// here and has nothing unfinished (none pending since the service loaded the
// store) and either a dispatch read during this connection confirmed it
// (verified) or the store's fence shows that nobody else created commands
// since the load (fence.go). done false: not taken, the caller queues c as
// usual.
//
// One in flight per modem holds because the claim (a solo entry and a pending
// mark, taken under mu) makes every other Submit queue, and makes dispatches of
// the modem wait for this one to end; at most the store is re-read.
func (s *Service) submitDirect(ctx context.Context, c store.Command) (stored store.Command, created, done bool, err error) {
	sc, ok := s.st.(sentCreator)
	if !ok {
		return store.Command{}, false, false, nil
	}
	now := c.CreatedAt
	payload, err := encodeCommand(c, now)
	if err != nil {
		return store.Command{}, false, false, nil // the dispatch finishes it as failed
	}
	m := c.ModemID
	s.mu.Lock()
	imei, online := s.online[m]
	_, busy := s.pending[m]
	fence := s.fence
	verified := s.verified[m] == s.conn[m]
	if !s.loaded || busy || !online || (!verified && fence == nil) {
		s.mu.Unlock()
		return store.Command{}, false, false, nil
	}
	s.pending[m]++
	so := &soloCmd{id: c.ID, gen: s.pending[m]}
	s.solo[m] = so
	s.mu.Unlock()

	switch {
	case verified && fence != nil:
		stored, created, err = fence.CreateSentCommand(ctx, c, now)
	case verified:
		stored, created, err = sc.CreateSentCommand(ctx, c, now)
	default:
		// Not read during this connection: only the fence vouches that
		// nobody else left the modem a command since the pending set was
		// loaded, checked in the insert's own transaction.
		stored, created, err = fence.CreateSentCommandIfHolds(ctx, c, now)
		if isFenceBroken(err) {
			s.fenceBroken(fence)
			s.mu.Lock()
			if s.solo[m] == so {
				delete(s.solo, m)
			}
			s.mu.Unlock()
			// The modem stays pending: Submit queues c and kicks it.
			return store.Command{}, false, false, nil
		}
	}
	if err != nil || !created {
		// Nothing sent: let a dispatch read the store (it settles the modem
		// or sends what it finds).
		s.mu.Lock()
		if s.solo[m] == so {
			delete(s.solo, m)
		}
		s.mu.Unlock()
		s.Kick(m)
		return stored, created, true, err
	}
	s.observe(string(store.CmdQueued))
	// Track before publishing: the answer may come at once.
	s.mu.Lock()
	so.ready, so.c = true, stored
	fl := &flight{modemID: m, sentAt: now}
	if fence != nil {
		fl.row, fl.fence = &so.c, fence // one copy of the row: the answers keep it in step
	}
	s.addFlight(c.ID, fl)
	n := len(s.flights)
	s.mu.Unlock()
	if s.obs != nil {
		s.obs.InFlight(n)
	}
	s.observe(string(store.CmdSent))
	if err := s.pub.Publish(imei, protocol.CommandRequestTopic(imei, c.ID), payload, 1); err != nil {
		// The modem went away; the command stays sent and goes out again when it returns.
		s.log.Debug("publish command", "cmd", c.ID, "err", err)
	}
	return stored, true, true, nil
}

// soloEnded is called when the command id of the modem ended. When it was the
// modem's solo command and no other command came since, the modem has nothing
// unfinished: it leaves the pending set without a store read, and true says
// no dispatch is needed.
func (s *Service) soloEnded(modemID int64, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	so := s.solo[modemID]
	if so == nil || so.id != id {
		return false
	}
	delete(s.solo, modemID)
	if g, ok := s.pending[modemID]; ok && g == so.gen {
		delete(s.pending, modemID)
		return true
	}
	return false
}

// encodeCommand is the command request the modem gets for c, sent at now.
func encodeCommand(c store.Command, now time.Time) ([]byte, error) {
	return protocol.Encode(protocol.CommandRequest{
		Header: protocol.Header{V: protocol.Version, ID: c.ID, TS: protocol.Millis(now)},
		Name:   protocol.CommandName(c.Name), Args: c.Args, Exp: protocol.Millis(c.ExpiresAt),
	})
}

// Live returns the command as this process knows it when it is one that
// Submit sent directly and that has not ended here yet (in flight: sent or
// acknowledged). It lets a long poll wait without a first read: the end wakes
// it (Watch) and fills Final. The state is the one at the send, or a later
// one the answers made (AnswersCommitted), never read from the store, so a
// caller that answers with it must re-read the store (as the long poll does
// at its deadline); an end made by another worker sharing the store is only
// seen then.
func (s *Service) Live(id string) (store.Command, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flights[id]
	if f == nil {
		return store.Command{}, false
	}
	so := s.solo[f.modemID]
	if so == nil || so.id != id || !so.ready || so.c.State.Terminal() {
		return store.Command{}, false
	}
	return so.c, true
}
