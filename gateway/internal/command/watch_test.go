package command

import (
	"context"
	"testing"

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

func TestWatchWakesOnEveryChange(t *testing.T) {
	s, _, _, db, mid := setup(t)
	ctx := context.Background()
	s.ModemReady(mid, imei)
	submit(t, s, mid, "c1")

	sent, cancelSent := s.Watch("c1")
	other, cancelOther := s.Watch("c2")
	defer cancelOther()
	if closed(sent) {
		t.Fatal("closed before any change")
	}
	s.dispatch(ctx, mid) // sent
	if !closed(sent) {
		t.Fatal("not woken when the command was sent")
	}
	if closed(other) {
		t.Fatal("another command's waiter woke")
	}
	cancelSent()
	cancelSent() // twice is harmless

	acked, cancelAcked := s.Watch("c1")
	defer cancelAcked()
	result(t, s, db, mid, "c1", protocol.StatusAccepted)
	if !closed(acked) {
		t.Fatal("not woken by the acknowledgement")
	}
	done, cancelDone := s.Watch("c1")
	defer cancelDone()
	result(t, s, db, mid, "c1", protocol.StatusSucceeded)
	if !closed(done) {
		t.Fatal("not woken by the final result")
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
