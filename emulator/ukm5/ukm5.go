package ukm5

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault is what a register does instead of answering normally.
type Fault string

// Faults.
const (
	FaultNone      Fault = ""
	FaultDown      Fault = "down"      // no connection (refused per-port; never answers when shared)
	FaultSlow      Fault = "slow"      // answers after Config.Slow
	Fault500       Fault = "500"       // 500 Internal Server Error
	Fault401       Fault = "401"       // 401 Unauthorized
	FaultMalformed Fault = "malformed" // 200 with bodies no parser accepts
	FaultHangup    Fault = "hangup"    // closes the connection without answering
)

// ParseFault reads a fault name ("none" or "" for no fault).
func ParseFault(s string) (Fault, error) {
	switch f := Fault(strings.ToLower(strings.TrimSpace(s))); f {
	case "none", FaultNone:
		return FaultNone, nil
	case FaultDown, FaultSlow, Fault500, Fault401, FaultMalformed, FaultHangup:
		return f, nil
	}
	return FaultNone, fmt.Errorf("ukm5: unknown fault %q (none, down, slow, 500, 401, malformed, hangup)", s)
}

// State is what a register's status endpoints report.
type State struct {
	ReceiptOpen  bool      `json:"receipt_open"`
	LastActivity time.Time `json:"last_activity"` // in the open receipt
	LastClose    time.Time `json:"last_close"`    // of the last receipt
	UserID       string    `json:"user_id"`
	OFDPending   int       `json:"ofd_pending"`
	Paper        bool      `json:"paper"`
	Vision       bool      `json:"vision"`
	Weight       float64   `json:"weight"` // kg on the scale
}

// Request is one request a register received.
type Request struct {
	Path string    `json:"path"`
	At   time.Time `json:"at"`
}

// Config configures a Fleet.
type Config struct {
	N    int              // registers
	Seed int64            // random state changes
	Now  func() time.Time // default time.Now
	Slow time.Duration    // delay of FaultSlow (default 30s)
	// Log is how many of the latest requests each register keeps (default
	// 1024); the counters cover all of them.
	Log int
}

// Register is one emulated register. Its methods are safe for concurrent use.
type Register struct {
	n   int
	cfg *Config
	mu  sync.Mutex
	st  State
	flt Fault
	log []Request // ring of the latest requests
	pos int
	cnt int64
	// lastAt and minGap track the smallest time between two consecutive
	// requests over the register's life.
	lastAt time.Time
	minGap time.Duration
	below  int64 // gaps shorter than one second

	// per-port mode
	lnMu   sync.Mutex
	addr   string
	srv    *http.Server
	closed bool
}

// Number is the register's index in its fleet (0-based).
func (r *Register) Number() int { return r.n }

// State returns the register's state.
func (r *Register) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Update changes the state.
func (r *Register) Update(f func(*State)) {
	r.mu.Lock()
	f(&r.st)
	r.mu.Unlock()
}

// Fault returns the current fault.
func (r *Register) Fault() Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flt
}

// SetFault switches the fault; in per-port mode "down" closes the listener
// and leaving it listens again on the same address.
func (r *Register) SetFault(f Fault) error {
	r.mu.Lock()
	old := r.flt
	r.flt = f
	r.mu.Unlock()
	if old == f {
		return nil
	}
	r.lnMu.Lock()
	defer r.lnMu.Unlock()
	if r.addr == "" || r.closed {
		return nil
	}
	switch {
	case f == FaultDown:
		return r.stopServing()
	case old == FaultDown:
		return r.serve(r.addr)
	}
	return nil
}

// Stats are a register's request counters.
type Stats struct {
	Requests int64         `json:"requests"`
	MinGap   time.Duration `json:"min_gap_ns"`      // smallest time between two requests (0: fewer than two)
	Below1s  int64         `json:"gaps_below_1s"`   // consecutive requests less than a second apart
	Last     time.Time     `json:"last,omitzero"`   // latest request
	Fault    Fault         `json:"fault,omitempty"` //
}

// Stats returns the counters.
func (r *Register) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Requests: r.cnt, MinGap: r.minGap, Below1s: r.below, Last: r.lastAt, Fault: r.flt}
}

// Requests returns the latest requests, oldest first.
func (r *Register) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.log) < r.cfg.Log {
		return append([]Request(nil), r.log...)
	}
	out := make([]Request, 0, len(r.log))
	out = append(out, r.log[r.pos:]...)
	return append(out, r.log[:r.pos]...)
}

func (r *Register) record(path string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.lastAt.IsZero() {
		g := at.Sub(r.lastAt)
		if r.minGap == 0 || g < r.minGap {
			r.minGap = max(g, 1)
		}
		if g < time.Second {
			r.below++
		}
	}
	r.lastAt = at
	r.cnt++
	if len(r.log) < r.cfg.Log {
		r.log = append(r.log, Request{path, at})
		return
	}
	r.log[r.pos] = Request{path, at}
	r.pos = (r.pos + 1) % len(r.log)
}

// ServeHTTP answers the status endpoints (paths ending in
// api/v1/status/NAME).
func (r *Register) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := r.cfg.Now()
	r.record(req.URL.Path, now)
	_, name, ok := strings.Cut(req.URL.Path, "api/v1/status/")
	if !ok || req.Method != http.MethodGet {
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	st, f := r.st, r.flt
	r.mu.Unlock()
	switch f {
	case FaultDown: // shared listener: never answer
		<-req.Context().Done()
		return
	case FaultSlow:
		select {
		case <-time.After(r.cfg.Slow):
		case <-req.Context().Done():
			return
		}
	case Fault500:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case Fault401:
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	case FaultHangup:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	code, body := answer(name, st)
	if code == 0 {
		http.NotFound(w, req)
		return
	}
	if f == FaultMalformed && code == 200 {
		body = "<html>\x00garbage"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if code == 200 {
		_, _ = w.Write([]byte(body))
	}
}

// TimeLayout is how the emulated registers write times.
const TimeLayout = time.RFC3339

// answer is the spec's answer of endpoint name in state st (0 = no such endpoint).
func answer(name string, st State) (int, string) {
	switch name {
	case "last_receipt_time":
		if !st.ReceiptOpen {
			return 204, ""
		}
		return 200, st.LastActivity.Format(TimeLayout)
	case "downtime":
		if st.ReceiptOpen {
			return 204, ""
		}
		return 200, st.LastClose.Format(TimeLayout)
	case "user_role_id":
		return 200, st.UserID
	case "ofd":
		return 200, fmt.Sprint(st.OFDPending)
	case "paper":
		if st.Paper {
			return 200, ""
		}
		return 204, ""
	case "vision":
		if st.Vision {
			return 200, ""
		}
		return 204, ""
	case "weight":
		if st.ReceiptOpen {
			return 204, ""
		}
		return 200, fmt.Sprintf("%.3f", st.Weight)
	}
	return 0, ""
}

// Fleet is a set of emulated registers.
type Fleet struct {
	cfg  Config
	regs []*Register
	mu   sync.Mutex
	rng  *rand.Rand
}

// New creates n registers, all healthy: paper in, Vision up, no receipt open,
// the last closed a minute ago.
func New(cfg Config) *Fleet {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Slow <= 0 {
		cfg.Slow = 30 * time.Second
	}
	if cfg.Log <= 0 {
		cfg.Log = 1024
	}
	f := &Fleet{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x756b6d35))}
	now := cfg.Now()
	for i := range cfg.N {
		f.regs = append(f.regs, &Register{n: i, cfg: &f.cfg, st: State{
			LastClose: now.Add(-time.Minute).Truncate(time.Second), UserID: fmt.Sprint(1 + i%7),
			Paper: true, Vision: true,
		}})
	}
	return f
}

// Len is the number of registers.
func (f *Fleet) Len() int { return len(f.regs) }

// Register returns register i (0-based).
func (f *Fleet) Register(i int) *Register { return f.regs[i] }

// Step applies one round of random changes to every register: receipts are
// opened, filled and closed, paper runs out and is replaced, the Vision link
// flaps, receipts wait for the OFD and are sent.
func (f *Fleet) Step() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.cfg.Now().Truncate(time.Second)
	for _, r := range f.regs {
		r.Update(func(s *State) { step(f.rng, s, now) })
	}
}

func step(rng *rand.Rand, s *State, now time.Time) {
	p := rng.Float64
	switch {
	case s.ReceiptOpen && p() < 0.3:
		s.ReceiptOpen, s.LastClose, s.Weight = false, now, 0
		if p() < 0.5 {
			s.OFDPending++
		}
	case s.ReceiptOpen && p() < 0.5:
		s.LastActivity = now
	case !s.ReceiptOpen && p() < 0.2:
		s.ReceiptOpen, s.LastActivity = true, now
	case !s.ReceiptOpen:
		s.Weight = float64(rng.IntN(5000)) / 1000
	}
	if s.OFDPending > 0 && p() < 0.2 {
		s.OFDPending = 0
	}
	if s.Paper && p() < 0.02 || !s.Paper && p() < 0.2 {
		s.Paper = !s.Paper
	}
	if s.Vision && p() < 0.02 || !s.Vision && p() < 0.3 {
		s.Vision = !s.Vision
	}
}

// Run calls Step every interval until ctx ends.
func (f *Fleet) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.Step()
		}
	}
}
