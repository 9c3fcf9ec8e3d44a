package command

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"vendgate/gateway/internal/store"
	"vendgate/gateway/internal/store/sqlite"
	"vendgate/protocol"
)

type sent struct {
	imei, topic string
	req         protocol.CommandRequest
}

type fakePub struct {
	mu   sync.Mutex
	msgs []sent
	down bool
}

func (p *fakePub) Publish(imei, topic string, payload []byte, qos byte) error {
	req, err := protocol.DecodeCommandRequest(payload)
	if err != nil {
		panic(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return context.Canceled
	}
	p.msgs = append(p.msgs, sent{imei, topic, req})
	return nil
}

func (p *fakePub) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.msgs {
		out = append(out, m.req.ID)
	}
	return out
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const imei = "356938035643809"

func setup(t *testing.T) (*Service, *fakePub, *clock, store.Store, int64) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := &store.Modem{CompanyID: store.DefaultCompanyID, IMEI: imei, PasswordHash: "x", CreatedAt: time.Now()}
	if err := db.CreateModem(ctx, m); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	pub := &fakePub{}
	s := New(db, pub, nil, Config{AckTimeout: 10 * time.Second, ExecTimeout: time.Minute, MaxAttempts: 3, Now: clk.now})
	return s, pub, clk, db, m.ID
}

func submit(t *testing.T, s *Service, modemID int64, id string) store.Command {
	t.Helper()
	c, _, err := s.Submit(context.Background(), Request{ID: id, ModemID: modemID, Name: protocol.CmdCashlessMode,
		Args: protocol.CashlessModeArgs{Enabled: true}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func result(t *testing.T, s *Service, db store.Store, modemID int64, id string, st protocol.Status) {
	t.Helper()
	code := 0
	if st == protocol.StatusFailed {
		code = protocol.CodeInternal
	}
	up := store.Uplink{Kind: store.UpResult, ModemID: modemID, Received: time.Now(),
		Result: &store.CommandResult{CommandID: id, Status: string(st), Code: code}}
	if err := db.ApplyUplinks(context.Background(), []store.Uplink{up}); err != nil {
		t.Fatal(err)
	}
	// As the ingest writer does: told at commit, then the follow-ups.
	s.AnswersCommitted([]store.Uplink{up})
	s.ResultStored(modemID, *up.Result)
}

func state(t *testing.T, db store.Store, id string) store.Command {
	t.Helper()
	c, err := db.GetCommand(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOneInFlightAndOrder(t *testing.T) {
	s, pub, _, db, mid := setup(t)
	ctx := context.Background()
	submit(t, s, mid, "c1")
	submit(t, s, mid, "c2")
	s.dispatch(ctx, mid)
	if len(pub.ids()) != 0 {
		t.Fatal("published to a modem that is not subscribed")
	}
	s.ModemReady(mid, imei)
	s.dispatch(ctx, mid)
	s.dispatch(ctx, mid)
	if got := pub.ids(); len(got) != 1 || got[0] != "c1" {
		t.Fatalf("published %v, want [c1] only", got)
	}
	if pub.msgs[0].topic != protocol.CommandRequestTopic(imei, "c1") {
		t.Fatalf("topic %s", pub.msgs[0].topic)
	}
	if c := state(t, db, "c1"); c.State != store.CmdSent || c.Attempts != 1 {
		t.Fatalf("c1 %s attempts %d", c.State, c.Attempts)
	}
	result(t, s, db, mid, "c1", protocol.StatusAccepted)
	s.dispatch(ctx, mid)
	if len(pub.ids()) != 1 {
		t.Fatal("second command sent while the first is only acknowledged")
	}
	result(t, s, db, mid, "c1", protocol.StatusSucceeded)
	s.dispatch(ctx, mid)
	if got := pub.ids(); len(got) != 2 || got[1] != "c2" {
		t.Fatalf("published %v, want c1 then c2", got)
	}
	if c := state(t, db, "c1"); c.State != store.CmdSucceeded {
		t.Fatalf("c1 %s", c.State)
	}
}

func TestIdempotentSubmit(t *testing.T) {
	s, pub, _, _, mid := setup(t)
	s.ModemReady(mid, imei)
	submit(t, s, mid, "same")
	_, created, err := s.Submit(context.Background(), Request{ID: "same", ModemID: mid, Name: protocol.CmdReset})
	if err != nil || created {
		t.Fatalf("repeat: created=%v err=%v", created, err)
	}
	s.dispatch(context.Background(), mid)
	s.dispatch(context.Background(), mid)
	if n := len(pub.ids()); n != 1 {
		t.Fatalf("sent %d times", n)
	}
}

func TestInvalidArgsRefused(t *testing.T) {
	s, _, _, _, mid := setup(t)
	_, _, err := s.Submit(context.Background(), Request{ModemID: mid, Name: protocol.CmdCashlessAddress,
		Args: protocol.CashlessAddressArgs{Address: 3}})
	if err == nil {
		t.Fatal("address 3 accepted")
	}
}

func TestResendThenTimeout(t *testing.T) {
	s, pub, clk, db, mid := setup(t)
	ctx := context.Background()
	s.ModemReady(mid, imei)
	submit(t, s, mid, "c1")
	s.dispatch(ctx, mid)
	clk.add(5 * time.Second)
	s.sweep(ctx)
	if n := len(pub.ids()); n != 1 {
		t.Fatalf("resent before the ack timeout: %d sends", n)
	}
	clk.add(6 * time.Second)
	s.sweep(ctx)
	if n := len(pub.ids()); n != 2 {
		t.Fatalf("%d sends after the ack timeout, want 2", n)
	}
	clk.add(11 * time.Second)
	s.sweep(ctx)
	clk.add(11 * time.Second)
	s.sweep(ctx)
	c := state(t, db, "c1")
	if c.State != store.CmdTimedOut || c.Attempts != 3 {
		t.Fatalf("after 3 silent sends: %s attempts %d", c.State, c.Attempts)
	}
}

func TestAckedButNoResultTimesOut(t *testing.T) {
	s, _, clk, db, mid := setup(t)
	ctx := context.Background()
	s.ModemReady(mid, imei)
	submit(t, s, mid, "c1")
	s.dispatch(ctx, mid)
	result(t, s, db, mid, "c1", protocol.StatusInProgress)
	clk.add(30 * time.Second)
	s.sweep(ctx)
	if c := state(t, db, "c1"); c.State != store.CmdAcknowledged {
		t.Fatalf("%s before the exec timeout", c.State)
	}
	clk.add(31 * time.Second)
	s.sweep(ctx)
	if c := state(t, db, "c1"); c.State != store.CmdTimedOut {
		t.Fatalf("%s after the exec timeout", c.State)
	}
}

func TestExpiry(t *testing.T) {
	s, pub, clk, db, mid := setup(t)
	ctx := context.Background()
	submit(t, s, mid, "c1") // modem offline, TTL 1h
	clk.add(61 * time.Minute)
	s.sweep(ctx)
	if c := state(t, db, "c1"); c.State != store.CmdExpired {
		t.Fatalf("%s after expiry", c.State)
	}
	s.ModemReady(mid, imei)
	s.dispatch(ctx, mid)
	if len(pub.ids()) != 0 {
		t.Fatal("expired command sent")
	}
}

func TestReconnectResendsSameID(t *testing.T) {
	s, pub, _, db, mid := setup(t)
	ctx := context.Background()
	s.ModemReady(mid, imei)
	submit(t, s, mid, "c1")
	s.dispatch(ctx, mid)
	s.ModemGone(mid)
	s.ModemReady(mid, imei)
	s.dispatch(ctx, mid)
	if got := pub.ids(); len(got) != 2 || got[1] != "c1" {
		t.Fatalf("sends %v, want c1 twice", got)
	}
	// A fresh service (gateway restart) resends what was in flight too.
	s2 := New(db, pub, nil, Config{Now: s.cfg.Now})
	s2.ModemReady(mid, imei)
	s2.dispatch(ctx, mid)
	if got := pub.ids(); len(got) != 3 || got[2] != "c1" {
		t.Fatalf("after restart sends %v", got)
	}
}

func TestRequestSatisfiedWhenCommandEnds(t *testing.T) {
	s, _, _, db, mid := setup(t)
	ctx := context.Background()
	vm := &store.Machine{CompanyID: store.DefaultCompanyID, Name: "m", ModemID: &mid, CreatedAt: time.Now()}
	if err := db.CreateMachine(ctx, vm, false); err != nil {
		t.Fatal(err)
	}
	r, _, err := db.OpenRequest(ctx, vm.ID, false, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.ModemReady(mid, imei)
	c, _, err := s.Submit(ctx, Request{ModemID: mid, VMID: vm.ID, Name: protocol.CmdRequest, Args: protocol.RequestArgs{Config: true}})
	if err != nil {
		t.Fatal(err)
	}
	s.dispatch(ctx, mid)
	res, _ := json.Marshal(map[string]any{"hb_interval": 60})
	up := store.Uplink{Kind: store.UpResult, ModemID: mid, Received: time.Now(),
		Result: &store.CommandResult{CommandID: c.ID, Status: "succeeded", Result: res}}
	if err := db.ApplyUplinks(ctx, []store.Uplink{up}); err != nil {
		t.Fatal(err)
	}
	s.ResultStored(mid, *up.Result)
	if _, err := db.GetRequest(ctx, vm.ID, r.ID); err == nil {
		t.Fatal("request still open after its command succeeded")
	}
}

func TestNewID(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := NewID(t0), NewID(t0.Add(time.Millisecond))
	if len(a) != 26 || !protocol.ValidID(a) {
		t.Fatalf("id %q", a)
	}
	if a >= b {
		t.Fatalf("ids not time-ordered: %s >= %s", a, b)
	}
	if NewID(t0) == a {
		t.Fatal("two ids in one millisecond are equal")
	}
}
