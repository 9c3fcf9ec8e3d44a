package command

import (
	"context"
	"testing"
	"time"

	"vendgate/protocol"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestWatchWakesWhenTheCommandEnds(t *testing.T) {
	s, _, clk, db, mid := setup(t)
	ctx := context.Background()
	s.ModemReady(mid, imei)
	submit(t, s, mid, "c1")

	done, cancelDone := s.Watch("c1")
	defer cancelDone()
	other, cancelOther := s.Watch("c2")
	defer cancelOther()
	s.dispatch(ctx, mid) // sent
	if closed(done) {
		t.Fatal("woken when the command was only sent")
	}
	result(t, s, db, mid, "c1", protocol.StatusAccepted)
	if closed(done) {
		t.Fatal("woken by the acknowledgement")
	}
	result(t, s, db, mid, "c1", protocol.StatusSucceeded)
	if !closed(done) {
		t.Fatal("not woken by the final result")
	}
	if closed(other) {
		t.Fatal("another command's waiter woke")
	}

	// Ends made by the gateway wake waiters too: expiry of a queued command.
	s.ModemGone(mid)
	submit(t, s, mid, "c3") // TTL one hour
	exp, cancelExp := s.Watch("c3")
	defer cancelExp()
	clk.add(2 * time.Hour)
	s.sweep(ctx)
	if !closed(exp) {
		t.Fatal("not woken by expiry")
	}
}

func TestWatchCancelForgets(t *testing.T) {
	s, _, _, _, _ := setup(t)
	_, c1 := s.Watch("x")
	_, c2 := s.Watch("x")
	c1()
	if len(s.watches) != 1 {
		t.Fatalf("%d watches after one of two waiters left", len(s.watches))
	}
	c2()
	c2()
	if len(s.watches) != 0 {
		t.Fatalf("%d watches after every waiter left: leak", len(s.watches))
	}
}

func TestStopWatching(t *testing.T) {
	s, _, _, _, _ := setup(t)
	if closed(s.Stopping()) {
		t.Fatal("stopping before StopWatching")
	}
	s.StopWatching()
	s.StopWatching()
	if !closed(s.Stopping()) {
		t.Fatal("Stopping not closed")
	}
}
