package poller

import (
	"container/heap"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"vendgate/gateway/internal/store"
)

// Defaults of Config.
const (
	DefaultWorkers  = 128
	DefaultTimeout  = 5 * time.Second
	DefaultInterval = 60 * time.Second
	// DefaultMinGap is the spec's limit: at most one request per second to a register.
	DefaultMinGap = time.Second
	DefaultReload = 5 * time.Second
	DefaultFlush  = 200 * time.Millisecond
)

// Target is a register to poll, as the Source lists it.
type Target struct {
	ID        int64
	StationID string
	BaseURL   string        // "http://host:port[/prefix]"
	Interval  time.Duration // between cycle starts; 0 = Config.Interval
	// Prev is the state saved before (Status StatusUnknown when none), so that
	// a restart does not report an unchanged status as a change.
	Prev store.RegisterState
}

// Update is a register's new state for the Sink.
type Update struct {
	State     store.RegisterState
	StationID string
	Changed   bool // the status code changed: push it
	KeepAlive bool // no change, but a keep-alive push is due
}

// Observer receives poll measurements (metrics); may be nil.
type Observer interface {
	Poll(endpoint, outcome string, latency time.Duration)
}

// Config configures a Poller.
type Config struct {
	// Source lists the registers to poll (enabled ones only); read at start
	// and every Reload.
	Source func(ctx context.Context) ([]Target, error)
	// Sink saves state updates, in batches, from one goroutine. A failed batch
	// is retried until it succeeds or the poller stops: nothing is dropped.
	Sink func(ctx context.Context, updates []Update) error

	Client   *http.Client  // default: NewClient(Workers, Timeout)
	Workers  int           // requests in flight at most, over all registers (DefaultWorkers)
	Timeout  time.Duration // per request (DefaultTimeout)
	Interval time.Duration // default poll interval (DefaultInterval)
	// MinGap is the least time between the end of one request to a register
	// and the start of the next; values below DefaultMinGap are raised to it.
	// Counting from the end (not the start) keeps the gap the register sees at
	// or above one second whatever the network delays.
	MinGap    time.Duration
	KeepAlive time.Duration // push the unchanged status this often (0: never)
	Reload    time.Duration // DefaultReload
	Flush     time.Duration // batching window of the Sink (DefaultFlush)

	Thresholds Thresholds
	Location   *time.Location // zone of register times written without one (UTC)
	Observer   Observer
	Now        func() time.Time
	Logger     *slog.Logger
}

// NewClient returns an HTTP client suited to polling many registers: no
// global connection limit, a few idle connections per register, short dials.
func NewClient(workers int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0, // no global limit: one idle connection per register is the point
		MaxIdleConnsPerHost:   max(2, workers),
		IdleConnTimeout:       3 * time.Minute,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Poller polls registers. Create with New, start with Run.
type Poller struct {
	cfg    Config
	log    *slog.Logger
	counts [8]atomic.Int64 // registers by status; index status+1 (0: unknown)
	polled atomic.Int64

	mu      sync.Mutex
	pending []Update
	wake    chan struct{}
}

// ErrConfig is returned by New for an incomplete Config.
var ErrConfig = errors.New("poller: Source and Sink are required")

// New checks cfg and fills its defaults.
func New(cfg Config) (*Poller, error) {
	if cfg.Source == nil || cfg.Sink == nil {
		return nil, ErrConfig
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	cfg.MinGap = max(cfg.MinGap, DefaultMinGap)
	if cfg.Reload <= 0 {
		cfg.Reload = DefaultReload
	}
	if cfg.Flush <= 0 {
		cfg.Flush = DefaultFlush
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(cfg.Workers, cfg.Timeout)
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Poller{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}, nil
}

// StatusCounts returns how many registers have each status (StatusUnknown
// for those not derived yet).
func (p *Poller) StatusCounts() map[int]int {
	out := map[int]int{}
	for i := range p.counts {
		if n := p.counts[i].Load(); n > 0 {
			out[i-1] = int(n)
		}
	}
	return out
}

// Requests is the number of requests made so far.
func (p *Poller) Requests() int64 { return p.polled.Load() }

// reg is the scheduler's view of one register; only the Run goroutine touches it.
type reg struct {
	t          Target
	lim        *rate.Limiter
	next       time.Time
	hidx       int // index in the heap; -1 when not in it
	ep         int // next endpoint
	cycleStart time.Time
	inflight   bool
	removed    bool

	results  []store.RegisterEndpoint // by endpoint index
	have     int                      // endpoints answered at least once
	state    store.RegisterState
	track    Track
	lastPush time.Time
}

type job struct {
	r        *reg
	endpoint string
	url      string
}

type result struct {
	r     *reg
	ep    store.RegisterEndpoint
	read  Reading
	start time.Time
}

// Run polls until ctx ends, then flushes the last updates.
func (p *Poller) Run(ctx context.Context) error {
	jobs := make(chan job)
	results := make(chan result, p.cfg.Workers)
	var wg sync.WaitGroup
	for range p.cfg.Workers {
		wg.Go(func() {
			for j := range jobs {
				results <- p.do(ctx, j)
			}
		})
	}
	flushDone, stopFlush := make(chan struct{}), make(chan struct{})
	fctx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	go func() { defer close(flushDone); p.flusher(fctx, stopFlush) }()

	regs := map[int64]*reg{}
	h := &regHeap{}
	p.reload(ctx, regs, h)
	reload := time.NewTicker(p.cfg.Reload)
	timer := time.NewTimer(time.Hour)
	inflight := 0
	defer func() {
		reload.Stop()
		timer.Stop()
		close(jobs)
		for inflight > 0 { // let the workers finish (their requests fail fast on ctx)
			<-results
			inflight--
		}
		wg.Wait()
		close(stopFlush) // the flusher writes what is pending, then returns
		select {
		case <-flushDone:
		case <-time.After(10 * time.Second):
			p.log.Error("poller: store did not take the last register states in 10s; they are re-derived at the next start")
			cancelFlush()
			<-flushDone
		}
		cancelFlush()
	}()
	for {
		now := p.cfg.Now()
		// Dispatch everything due, as long as a worker can take it.
		var send chan job
		var head job
		if h.Len() > 0 && !(*h)[0].next.After(now) && inflight < p.cfg.Workers {
			r := (*h)[0]
			if rs := r.lim.ReserveN(now, 1); !rs.OK() || rs.DelayFrom(now) > 0 {
				// The schedule never asks early; the limiter is the guarantee.
				d := rs.DelayFrom(now)
				rs.CancelAt(now)
				r.next = now.Add(max(d, time.Millisecond))
				heap.Fix(h, r.hidx)
				continue
			}
			send, head = jobs, p.jobFor(r)
		}
		wait := time.Hour
		if send == nil && h.Len() > 0 && inflight < p.cfg.Workers {
			wait = max((*h)[0].next.Sub(now), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case send <- head:
			r := heap.Pop(h).(*reg)
			r.inflight = true
			inflight++
			if r.ep == 0 {
				r.cycleStart = now
			}
		case res := <-results:
			inflight--
			p.handle(res, regs, h)
		case <-reload.C:
			p.reload(ctx, regs, h)
		case <-timer.C:
		}
	}
}

func (p *Poller) jobFor(r *reg) job {
	name := Endpoints[r.ep]
	return job{r: r, endpoint: name, url: strings.TrimRight(r.t.BaseURL, "/") + "/" + PathPrefix + name}
}

// do performs one request (in a worker).
func (p *Poller) do(ctx context.Context, j job) result {
	start := p.cfg.Now()
	ep := store.RegisterEndpoint{Endpoint: j.endpoint}
	code, body, err := p.fetch(ctx, j.url)
	end := p.cfg.Now()
	ep.At, ep.Code = end, code
	p.polled.Add(1)
	var rd Reading
	switch {
	case err != nil:
		ep.Outcome, ep.Error = classify(err), err.Error()
	default:
		ep.Body = clip(body, 256)
		rd, err = Interpret(j.endpoint, code, body, p.cfg.Location)
		switch {
		case errors.Is(err, ErrAuth):
			ep.Outcome, ep.Error = OutcomeAuth, err.Error()
		case err != nil:
			ep.Outcome, ep.Error = OutcomeBad, err.Error()
		default:
			ep.Outcome = OutcomeOK
		}
	}
	if p.cfg.Observer != nil {
		p.cfg.Observer.Poll(j.endpoint, ep.Outcome, end.Sub(start))
	}
	return result{r: j.r, ep: ep, read: rd, start: start}
}

func (p *Poller) fetch(ctx context.Context, u string) (int, []byte, error) {
	rctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	// An empty body that is not http.NoBody makes the request non-replayable:
	// net/http would otherwise silently resend a GET whose reused connection
	// was cut, and the register would see two requests in a few milliseconds.
	req.Body = io.NopCloser(emptyReader{})
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, body, nil
}

// classify maps a transport error to an outcome: refused, timed out and DNS
// failures are "no connection"; the rest (a connection cut mid-answer, TLS,
// a malformed HTTP answer) is "other".
func classify(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var ue *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return OutcomeConn
	case errors.As(err, &dnsErr):
		return OutcomeConn
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return OutcomeConn
	case errors.As(err, &ue) && ue.Timeout():
		return OutcomeConn
	}
	return OutcomeOther
}

func clip(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// handle applies a result and schedules the register's next request.
func (p *Poller) handle(res result, regs map[int64]*reg, h *regHeap) {
	r := res.r
	r.inflight = false
	if r.removed {
		return
	}
	now := p.cfg.Now()
	i := slices.Index(Endpoints, res.ep.Endpoint)
	if r.results[i].Endpoint == "" {
		r.have++
	}
	r.results[i] = res.ep
	if res.ep.Outcome == OutcomeOK {
		r.track.Apply(res.read, now)
		r.state.LastOK = res.ep.At
	}
	r.state.Checked = res.ep.At
	r.ep = (r.ep + 1) % len(Endpoints)
	cycleEnd := r.ep == 0

	changed, alertsChanged := false, false
	if r.have == len(Endpoints) { // a status needs one answer of every endpoint
		st := Derive(r.results)
		if st != r.state.Status {
			p.count(r.state.Status, -1)
			p.count(st, +1)
			r.state.Status, r.state.Since, changed = st, now, true
		}
		alerts := r.track.Alerts(p.cfg.Thresholds, now)
		if !slices.Equal(alerts, r.state.Alerts) {
			r.state.Alerts, alertsChanged = alerts, true
		}
	}
	keepAlive := !changed && cycleEnd && r.state.Status != StatusUnknown && p.cfg.KeepAlive > 0 && now.Sub(r.lastPush) >= p.cfg.KeepAlive
	if changed || keepAlive {
		r.lastPush = now
	}
	if changed || alertsChanged || cycleEnd {
		st := r.state
		st.Endpoints = slices.Clone(r.results[:])
		st.Endpoints = slices.DeleteFunc(st.Endpoints, func(e store.RegisterEndpoint) bool { return e.Endpoint == "" })
		st.Alerts = slices.Clone(r.state.Alerts)
		p.enqueue(Update{State: st, StationID: r.t.StationID, Changed: changed, KeepAlive: keepAlive})
	}

	// Next request: MinGap after this one ended; a new cycle not before its
	// interval since the last cycle start.
	next := now.Add(p.cfg.MinGap)
	if cycleEnd {
		iv := r.t.Interval
		if iv <= 0 {
			iv = p.cfg.Interval
		}
		if t := r.cycleStart.Add(iv); t.After(next) {
			next = t
		}
	}
	r.next = next
	heap.Push(h, r)
}

func (p *Poller) count(status int, d int64) {
	if status >= -1 && status < 7 {
		p.counts[status+1].Add(d)
	}
}

// reload reads the Source and adds, changes or removes registers.
func (p *Poller) reload(ctx context.Context, regs map[int64]*reg, h *regHeap) {
	ts, err := p.cfg.Source(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("poller: list registers", "err", err)
		}
		return
	}
	now := p.cfg.Now()
	seen := make(map[int64]bool, len(ts))
	for _, t := range ts {
		seen[t.ID] = true
		if r, ok := regs[t.ID]; ok {
			if r.t.BaseURL != t.BaseURL {
				// A new address is a new register as far as its answers go.
				r.results = make([]store.RegisterEndpoint, len(Endpoints))
				r.have = 0
			}
			prev := r.t.Prev
			r.t = t
			r.t.Prev = prev
			continue
		}
		r := &reg{t: t, hidx: -1, lim: rate.NewLimiter(rate.Every(p.cfg.MinGap), 1),
			results: make([]store.RegisterEndpoint, len(Endpoints)), state: t.Prev}
		r.state.RegisterID = t.ID
		if r.state.Status == StatusUnknown || t.Prev.RegisterID == 0 {
			r.state.Status = StatusUnknown
		}
		r.lastPush = now // a keep-alive is due one period after start
		p.count(r.state.Status, +1)
		// Spread the first polls over the interval so a thousand registers do
		// not all start in the same second, and wait a full gap first: the
		// previous process (a gateway restart) may have asked this register
		// just before it stopped, and the limit holds across restarts too.
		r.next = now.Add(p.cfg.MinGap + spread(t.ID, min(p.cfg.Interval, 5*time.Second)))
		regs[t.ID] = r
		heap.Push(h, r)
	}
	for id, r := range regs {
		if !seen[id] {
			r.removed = true
			p.count(r.state.Status, -1)
			if r.hidx >= 0 {
				heap.Remove(h, r.hidx)
			}
			delete(regs, id)
		}
	}
}

// spread is a deterministic offset in [0, d) for a register id.
func spread(id int64, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	x := uint64(id) * 0x9E3779B97F4A7C15
	return time.Duration(x % uint64(d))
}

func (p *Poller) enqueue(u Update) {
	p.mu.Lock()
	p.pending = append(p.pending, u)
	p.mu.Unlock()
	p.kick()
}

func (p *Poller) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// flusher hands pending updates to the Sink in batches; it returns after the
// stop channel closed and everything pending was written (or ctx ended).
func (p *Poller) flusher(ctx context.Context, stop <-chan struct{}) {
	var batch []Update
	backoff := 100 * time.Millisecond
	for {
		stopping := false
		select {
		case <-p.wake:
		case <-stop:
			stopping = true
		case <-ctx.Done():
			return
		}
		if !stopping {
			// Collect for a short window so a busy second is one transaction.
			select {
			case <-time.After(p.cfg.Flush):
			case <-stop:
				stopping = true
			}
		}
		p.mu.Lock()
		batch = append(batch, p.pending...)
		p.pending = nil
		p.mu.Unlock()
		for len(batch) > 0 {
			err := p.cfg.Sink(ctx, batch)
			if err == nil {
				batch = batch[:0]
				backoff = 100 * time.Millisecond
				break
			}
			p.log.Error("poller: save register states", "err", err, "updates", len(batch))
			select {
			case <-time.After(backoff):
				backoff = min(backoff*2, 10*time.Second)
			case <-ctx.Done():
				return
			}
		}
		if stopping {
			return // Run closes stop only after its last enqueue
		}
	}
}

// regHeap orders registers by their next request time.
type regHeap []*reg

func (h regHeap) Len() int           { return len(h) }
func (h regHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h regHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *regHeap) Push(x any) {
	r := x.(*reg)
	r.hidx = len(*h)
	*h = append(*h, r)
}
func (h *regHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	r.hidx = -1
	*h = old[:len(old)-1]
	return r
}

// emptyReader is an empty request body (see fetch).
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }
