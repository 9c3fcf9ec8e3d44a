package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"vendgate/gateway/internal/metrics"
	"vendgate/gateway/internal/poller"
	"vendgate/gateway/internal/push"
	"vendgate/gateway/internal/store"
)

// RegisterConfig is a cash register defined in the configuration file. It is
// created in the store at start, or updated when the store has a register of
// that name (registers can also be managed over REST, /v2/registers).
type RegisterConfig struct {
	Name         string   `json:"name"`          // unique; matches the stored register
	StationID    string   `json:"station_id"`    // Petrosoft station the status is pushed for
	URL          string   `json:"url"`           // base URL, "http://IP:PORT"
	Location     string   `json:"location"`      //
	Enabled      *bool    `json:"enabled"`       // default true
	PollInterval Duration `json:"poll_interval"` // default RegistersConfig.Interval
}

// MonitoringConfig is the Petrosoft Monitoring Data API the statuses are
// pushed to. An empty URL disables pushing (statuses are still derived and
// shown over REST).
type MonitoringConfig struct {
	// URL of the push endpoint; "{stationId}" is replaced by the station,
	// otherwise the station is appended as the last path segment.
	URL       string   `json:"url"`
	Token     string   `json:"token"`      // Bearer token
	KeepAlive Duration `json:"keep_alive"` // push the unchanged status this often (default 5m; "0s" or negative: never)
	Timeout   Duration `json:"timeout"`    // one push (10s)
	RetryMin  Duration `json:"retry_min"`  // first retry after a failure (1s), doubled per failure
	RetryMax  Duration `json:"retry_max"`  // longest wait between retries (5m)
	Parallel  int      `json:"parallel"`   // stations pushed at once (16)
}

// ThresholdsConfig are the limits of the derived alerts (docs/registers.md).
type ThresholdsConfig struct {
	OFDPending  int      `json:"ofd_pending"`  // ofd_backlog above this many receipts not sent to the OFD (50)
	OFDAge      Duration `json:"ofd_age"`      // ofd_backlog when receipts wait longer (4h)
	ReceiptOpen Duration `json:"receipt_open"` // receipt_open_long (30m)
	Idle        Duration `json:"idle"`         // idle_long: no receipt closed for this long (4h)
}

// RegistersConfig configures cash-register monitoring (the UKM5 status poller
// and the Petrosoft push).
type RegistersConfig struct {
	Registers  []RegisterConfig `json:"registers"`
	Monitoring MonitoringConfig `json:"monitoring"`
	Thresholds ThresholdsConfig `json:"thresholds"`

	Workers  int      `json:"workers"`  // requests to registers in flight at most (128)
	Timeout  Duration `json:"timeout"`  // one request to a register (5s)
	Interval Duration `json:"interval"` // default poll interval (60s); a cycle of 7 requests takes at least 7s
	Reload   Duration `json:"reload"`   // how often registers added over REST are picked up (5s)
}

// defaults fills the zero fields.
func (c *RegistersConfig) defaults() {
	d := func(p *Duration, v time.Duration) {
		if *p == 0 {
			*p = Duration(v)
		}
	}
	d(&c.Timeout, poller.DefaultTimeout)
	d(&c.Interval, poller.DefaultInterval)
	d(&c.Reload, poller.DefaultReload)
	d(&c.Monitoring.KeepAlive, 5*time.Minute)
	d(&c.Monitoring.Timeout, 10*time.Second)
	d(&c.Monitoring.RetryMin, push.DefaultRetryMin)
	d(&c.Monitoring.RetryMax, push.DefaultRetryMax)
	d(&c.Thresholds.OFDAge, 4*time.Hour)
	d(&c.Thresholds.ReceiptOpen, 30*time.Minute)
	d(&c.Thresholds.Idle, 4*time.Hour)
	if c.Thresholds.OFDPending == 0 {
		c.Thresholds.OFDPending = 50
	}
	if c.Workers <= 0 {
		c.Workers = poller.DefaultWorkers
	}
	if c.Monitoring.Parallel <= 0 {
		c.Monitoring.Parallel = push.DefaultParallel
	}
}

// validate reports the first invalid field.
func (c *RegistersConfig) validate() error {
	names := map[string]bool{}
	for i, r := range c.Registers {
		if r.Name == "" {
			return fmt.Errorf("config: registers[%d]: name is empty", i)
		}
		if names[r.Name] {
			return fmt.Errorf("config: registers[%d]: name %q twice", i, r.Name)
		}
		names[r.Name] = true
		if err := CheckRegisterURL(r.URL); err != nil {
			return fmt.Errorf("config: registers[%d] (%s): %w", i, r.Name, err)
		}
		if r.PollInterval < 0 {
			return fmt.Errorf("config: registers[%d] (%s): poll_interval is negative", i, r.Name)
		}
	}
	if c.Monitoring.URL != "" {
		u, err := url.Parse(c.Monitoring.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("config: registers.monitoring.url must be an http(s) URL")
		}
	}
	return nil
}

// CheckRegisterURL checks a register's base URL: http(s), a host, no query.
func CheckRegisterURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("url %q must be http://IP:PORT (optionally with a path prefix)", s)
	}
	return nil
}

// registersRuntime is a running poller and pusher.
type registersRuntime struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// runtimes holds the running register monitoring of each Gateway (at most
// one: starting again replaces it).
var runtimes sync.Map // *Gateway → *registersRuntime

// StartRegisters starts cash-register monitoring on g with cfg, replacing any
// already running; stop ends it and waits. Run calls it with the
// configuration file's "registers" section; tests and tools may call it to
// change the settings.
func (g *Gateway) StartRegisters(ctx context.Context, cfg RegistersConfig) (stop func(), err error) {
	return startRegisters(ctx, g, cfg)
}

// startRegisters upserts the configured registers, then runs the poller (and
// the push worker when a monitoring URL is set) until stop is called or ctx
// ends.
func startRegisters(ctx context.Context, g *Gateway, cfg RegistersConfig) (stop func(), err error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	regs, ok := g.db.(store.Registers)
	if !ok {
		return nil, errors.New("gateway: the store does not support registers")
	}
	if old, ok := runtimes.LoadAndDelete(g); ok {
		rt := old.(*registersRuntime)
		rt.cancel()
		rt.wg.Wait()
	}
	for _, rc := range cfg.Registers {
		r := store.Register{Name: rc.Name, StationID: rc.StationID, BaseURL: rc.URL, Location: rc.Location,
			Enabled: rc.Enabled == nil || *rc.Enabled, PollInterval: time.Duration(rc.PollInterval)}
		if err := regs.UpsertRegister(ctx, &r); err != nil {
			return nil, fmt.Errorf("gateway: register %q: %w", rc.Name, err)
		}
	}

	log := g.log.With("part", "registers")
	pushing := cfg.Monitoring.URL != ""
	var pm *registerObserver
	if g.m != nil {
		pm = &registerObserver{}
	}
	var worker *push.Worker
	if pushing {
		wc := push.WorkerConfig{Outbox: regs, Client: &push.Client{URL: cfg.Monitoring.URL, Token: cfg.Monitoring.Token,
			Timeout: time.Duration(cfg.Monitoring.Timeout)}, Parallel: cfg.Monitoring.Parallel,
			RetryMin: time.Duration(cfg.Monitoring.RetryMin), RetryMax: time.Duration(cfg.Monitoring.RetryMax), Logger: log}
		if pm != nil {
			wc.Observer = pm
		}
		worker = push.NewWorker(wc)
	}
	known := map[int64]bool{} // the Source runs on the poller's goroutine only
	source := func(ctx context.Context) ([]poller.Target, error) {
		list, err := regs.ListRegisters(ctx, 0)
		if err != nil {
			return nil, err
		}
		ts := make([]poller.Target, 0, len(list))
		seen := make(map[int64]bool, len(list))
		for _, r := range list {
			if !r.Enabled {
				continue
			}
			seen[r.ID] = true
			t := poller.Target{ID: r.ID, StationID: r.StationID, BaseURL: r.BaseURL, Interval: r.PollInterval}
			if !known[r.ID] {
				prev, err := regs.GetRegisterState(ctx, r.ID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, err
				}
				t.Prev = prev
			}
			ts = append(ts, t)
		}
		known = seen
		return ts, nil
	}
	keepAlive := time.Duration(cfg.Monitoring.KeepAlive)
	if !pushing || keepAlive < 0 {
		keepAlive = 0
	}
	sink := func(ctx context.Context, us []poller.Update) error {
		states := make([]store.RegisterState, 0, len(us))
		var pushes []store.RegisterPush
		now := time.Now()
		for _, u := range us {
			states = append(states, u.State)
			if !pushing || u.StationID == "" || (!u.Changed && !u.KeepAlive) || !push.ValidStatus(u.State.Status) {
				continue
			}
			doc, err := json.Marshal(pushBody(u, now))
			if err != nil {
				return err
			}
			pushes = append(pushes, store.RegisterPush{StationID: u.StationID, RegisterID: u.State.RegisterID, Body: doc,
				KeepAlive: u.KeepAlive && !u.Changed, Created: now})
		}
		if err := regs.SaveRegisterStates(ctx, states, pushes); err != nil {
			return err
		}
		if len(pushes) > 0 && worker != nil {
			worker.Notify()
		}
		return nil
	}
	pcfg := poller.Config{Source: source, Sink: sink, Workers: cfg.Workers, Timeout: time.Duration(cfg.Timeout),
		Interval: time.Duration(cfg.Interval), KeepAlive: keepAlive, Reload: time.Duration(cfg.Reload),
		Thresholds: poller.Thresholds{OFDPending: cfg.Thresholds.OFDPending, OFDAge: time.Duration(cfg.Thresholds.OFDAge),
			ReceiptOpen: time.Duration(cfg.Thresholds.ReceiptOpen), Idle: time.Duration(cfg.Thresholds.Idle)},
		Logger: log}
	if pm != nil {
		pcfg.Observer = pm
	}
	p, err := poller.New(pcfg)
	if err != nil {
		return nil, err
	}
	if pm != nil {
		rm, err := registerMetricsFor(g.m, p, regs)
		if err != nil {
			log.Warn("registers: metrics", "err", err)
		} else {
			pm.rm.Store(rm)
		}
	}

	rctx, cancel := context.WithCancel(ctx)
	rt := &registersRuntime{cancel: cancel}
	rt.wg.Go(func() { _ = p.Run(rctx) })
	if worker != nil {
		rt.wg.Go(func() { worker.Run(rctx) })
	}
	runtimes.Store(g, rt)
	log.Info("register monitoring started", "configured", len(cfg.Registers), "push", pushing)
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			rt.wg.Wait()
			runtimes.CompareAndDelete(g, rt)
		})
	}, nil
}

// pushBody is the monitoring document of an update: the status with the time
// it took its value (now for a keep-alive), the register's last good answer
// and whether its latest answer was good.
func pushBody(u poller.Update, now time.Time) push.Body {
	b := push.Body{Status: u.State.Status, Time: u.State.Since.Unix()}
	if u.KeepAlive && !u.Changed || u.State.Since.IsZero() {
		b.Time = now.Unix()
	}
	if !u.State.LastOK.IsZero() {
		t := u.State.LastOK.Unix()
		b.ReceivedFromCloud = &t
	}
	online := !u.State.LastOK.IsZero() && !u.State.LastOK.Before(u.State.Checked)
	b.CloudOnline = &online
	return b
}

// registerObserver forwards poll and push measurements to the metrics.
type registerObserver struct {
	rm atomic.Pointer[metrics.RegisterMetrics]
}

func (o *registerObserver) Poll(endpoint, outcome string, d time.Duration) {
	if rm := o.rm.Load(); rm != nil {
		rm.Poll(endpoint, outcome, d)
	}
}

func (o *registerObserver) Push(outcome string) {
	if rm := o.rm.Load(); rm != nil {
		rm.Push(outcome)
	}
}

// regMetrics are the register collectors of one Metrics, registered once;
// a restarted poller takes over their sources.
type regMetrics struct {
	rm   *metrics.RegisterMetrics
	p    atomic.Pointer[poller.Poller]
	regs store.Registers
}

var (
	regMetricsMu sync.Mutex
	regMetricsOf = map[*metrics.Metrics]*regMetrics{}
)

func registerMetricsFor(m *metrics.Metrics, p *poller.Poller, regs store.Registers) (*metrics.RegisterMetrics, error) {
	regMetricsMu.Lock()
	defer regMetricsMu.Unlock()
	if e, ok := regMetricsOf[m]; ok {
		e.p.Store(p)
		return e.rm, nil
	}
	e := &regMetrics{regs: regs}
	e.p.Store(p)
	rm, err := m.RegisterRegisters(metrics.RegisterSources{
		Statuses: func() map[int]int { return e.p.Load().StatusCounts() },
		OutboxDepth: func() int {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, _ := e.regs.OutboxDepth(ctx)
			return n
		},
	})
	if err != nil {
		return nil, err
	}
	e.rm = rm
	regMetricsOf[m] = e
	return rm, nil
}
