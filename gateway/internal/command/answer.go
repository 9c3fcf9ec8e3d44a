package command

import (
	"context"
	"slices"
	"time"

	"vendgate/gateway/internal/store"
	"vendgate/protocol"
)

// AnswersCommitted is told of the command answers of every batch the ingest
// writer committed, in commit order, before anyone waiting for them (the
// ingest Writer's OnAnswers). For a command Submit sent directly it applies
// each answer to the row the service holds, as the store did (see
// store.Commands: accepted and in_progress acknowledge, keeping the first
// AckedAt; a final status finishes with DoneAt the answer's receipt; the
// result is kept when the answer has none; answers to a finished command are
// ignored), so that ResultStored ends the command without reading it back.
//
// The row is dropped (ResultStored then reads) whenever the store may have
// done otherwise: the store's fence broken (someone else wrote commands;
// checked once per batch with a final answer, after its commit: a broken
// fence stays broken, so this covers every write before), an answer from
// another modem, an unknown status, a command that may have expired (a
// sweep, here or in another process sharing the database, finished it before
// the answer: the store ignored the answer), a resend or a time-out here
// (send and finish drop the row before writing). A reconnect forgets the
// flight altogether.
func (s *Service) AnswersCommitted(answers []store.Uplink) {
	now := s.cfg.Now()
	// Fences to check: those of rows a final answer would finish.
	var fences []store.CommandFence
	s.mu.Lock()
	for _, up := range answers {
		f := s.flights[up.Result.CommandID]
		if f != nil && f.row != nil && protocol.Status(up.Result.Status).Terminal() && !slices.Contains(fences, f.fence) {
			fences = append(fences, f.fence)
		}
	}
	s.mu.Unlock()
	var broken []store.CommandFence
	for _, fc := range fences {
		if !fc.Holds(context.Background()) {
			broken = append(broken, fc)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, up := range answers {
		s.answer(up.ModemID, *up.Result, up.Received, now, broken)
	}
}

// answer applies one committed answer to the held row, under mu.
func (s *Service) answer(modemID int64, res store.CommandResult, at, now time.Time, broken []store.CommandFence) {
	f := s.flights[res.CommandID]
	if f == nil || f.row == nil {
		return
	}
	r := f.row
	if r.State.Terminal() {
		return // the store ignores answers to a finished command
	}
	if f.modemID != modemID || (!r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)) ||
		slices.Contains(broken, f.fence) {
		f.row = nil
		return
	}
	at = storedTime(at)
	next, ack, done := store.AnswerState(res.Status)
	switch {
	case ack:
		if r.AckedAt.IsZero() {
			r.AckedAt = at
		}
	case done:
		r.DoneAt = at
	default:
		f.row = nil // an unknown status: the store decides
		return
	}
	r.State = next
	r.Status, r.Code, r.Message = res.Status, res.Code, res.Message
	if len(res.Result) > 0 {
		r.Result = append([]byte(nil), res.Result...)
	}
}

// storedTime is t as the store returns it: whole milliseconds, UTC.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// forgetRow drops the held row of the command: a write is about to change it.
func (s *Service) forgetRow(id string) {
	s.mu.Lock()
	if f := s.flights[id]; f != nil {
		f.row = nil
	}
	s.mu.Unlock()
}
