package fleet

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"vendgate/emulator/machine"
	"vendgate/emulator/modem"
	"vendgate/protocol"
)

// Defaults.
const (
	DefaultIMEIPrefix    = "35" // GSMA reporting body 35: a plausible-looking IMEI
	DefaultProgressEvery = time.Second
	imeiLen              = 15
	maxLatencySamples    = 1 << 20 // reservoir size for the latency percentiles
)

// ErrConfig reports an invalid fleet configuration.
var ErrConfig = errors.New("fleet: invalid config")

// IMEI returns the IMEI of fleet member index (1-based): prefix followed by index
// zero-padded to 15 digits.
func IMEI(prefix string, index int) (string, error) {
	width := imeiLen - len(prefix)
	if width < 1 || strings.Trim(prefix, "0123456789") != "" {
		return "", fmt.Errorf("%w: imei prefix %q must be 0..14 digits", ErrConfig, prefix)
	}
	s := fmt.Sprintf("%s%0*d", prefix, width, index)
	if index < 0 || len(s) != imeiLen {
		return "", fmt.Errorf("%w: index %d does not fit after prefix %q", ErrConfig, index, prefix)
	}
	return s, nil
}

// Password is the fleet password scheme: hex(HMAC-SHA256(secret, imei)[:12]).
func Password(secret, imei string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(imei))
	return hex.EncodeToString(mac.Sum(nil)[:12])
}

// Config configures a fleet.
type Config struct {
	Broker     string  // broker URL, e.g. tcp://127.0.0.1:1883
	N          int     // number of modems, > 0
	IMEIPrefix string  // digits before the zero-padded index; "" means "35"
	Offset     int     // the first modem has index Offset+1
	Secret     string  // password secret (see Password)
	Ramp       float64 // modems started per second; 0 means all at once
	Duration   time.Duration
	// Duration bounds the run; 0 runs until ctx is done.

	HBInterval time.Duration // per modem; 0 = modem default
	Keepalive  time.Duration // per modem; 0 = modem default
	EventRate  float64       // random events per minute per modem
	VendRate   float64       // random vends per minute per modem
	Bus        protocol.Bus  // "" = mdb
	Seed       int64         // modem i uses Seed+i

	ReconnectMin, ReconnectMax time.Duration // per modem; 0 = modem defaults
	BufferMax                  int           // per modem; 0 = modem default

	Now           func() time.Time
	Logger        *slog.Logger
	Progress      func(Progress) // optional, every ProgressEvery
	ProgressEvery time.Duration  // 0 = 1 s
	Tweak         func(*modem.Config)
	// Tweak, if set, may adjust each modem's Config before New (paho client only).

	// Client picks the MQTT client: ClientPaho runs a full emulator/modem per
	// member; ClientRaw runs lightweight rawmqtt connections (one goroutine each)
	// that heartbeat, send events/vends/audits and acknowledge commands. ""
	// means raw when N > 100, paho otherwise.
	Client string
	// The fields below apply to the raw client only.
	SourceIPs    []net.IP      // local addresses to spread connections over (ParseSourceRange); nil: any
	AuditRate    float64       // audits per minute per modem
	Flood        int           // > 0: each modem keeps this many QoS 1 events in flight, back to back (throughput test)
	DialParallel int           // connection attempts at once [256]
	Drain        time.Duration // at the end, wait this long at most for outstanding PUBACKs [3s]
	// Sink > 0 opens this many anonymous QoS 1 subscriptions to SinkFilter
	// before the modems start (shared as $share/... when more than one) and
	// counts what the broker forwards to them: the baseline of a bare broker
	// that forwards uplinks to a consumer. The gateway refuses such clients.
	Sink       int
	SinkFilter string // "" = DefaultSinkFilter
}

// maxSink bounds Config.Sink.
const maxSink = 64

// MQTT clients of a fleet.
const (
	ClientRaw  = "raw"
	ClientPaho = "paho"
)

// client resolves Config.Client.
func (c Config) client() string {
	if c.Client == "" {
		if c.N > 100 {
			return ClientRaw
		}
		return ClientPaho
	}
	return c.Client
}

// Members returns the fleet's IMEIs in order.
func (c Config) Members() ([]string, error) {
	prefix := c.IMEIPrefix
	if prefix == "" {
		prefix = DefaultIMEIPrefix
	}
	if c.N <= 0 {
		return nil, fmt.Errorf("%w: N must be > 0", ErrConfig)
	}
	out := make([]string, c.N)
	for i := range out {
		imei, err := IMEI(prefix, c.Offset+i+1)
		if err != nil {
			return nil, err
		}
		out[i] = imei
	}
	return out, nil
}

// WriteProvision writes one "imei password" line per fleet member, for importing the
// fleet's credentials into a gateway.
func WriteProvision(w io.Writer, cfg Config) error {
	imeis, err := cfg.Members()
	if err != nil {
		return err
	}
	for _, imei := range imeis {
		if _, err := fmt.Fprintf(w, "%s %s\n", imei, Password(cfg.Secret, imei)); err != nil {
			return fmt.Errorf("fleet: write provision: %w", err)
		}
	}
	return nil
}

// Progress is a periodic snapshot of a running fleet.
type Progress struct {
	Elapsed     time.Duration
	Started     int
	Connected   int
	Sent        uint64
	Acked       uint64
	Buffered    int
	CmdReceived uint64
	CmdDone     uint64 // terminal results
	Reconnects  uint64
	AckRate     float64 // PUBACKs per second since the previous line (raw client)
	Forwarded   uint64  // publishes delivered to the sink (raw client with Sink > 0)
}

// String formats the progress line; forwarded= appears once a sink has
// received something.
func (p Progress) String() string {
	s := fmt.Sprintf("t=%s started=%d connected=%d sent=%d acked=%d ack/s=%.0f buffered=%d cmd=%d done=%d reconnects=%d",
		p.Elapsed.Truncate(time.Second), p.Started, p.Connected, p.Sent, p.Acked, p.AckRate, p.Buffered,
		p.CmdReceived, p.CmdDone, p.Reconnects)
	if p.Forwarded > 0 {
		s += fmt.Sprintf(" forwarded=%d", p.Forwarded)
	}
	return s
}

// Percentiles summarise a latency distribution.
type Percentiles struct {
	Count         int
	P50, P90, P99 time.Duration
	Max           time.Duration
}

// Summary is what a fleet run saw.
type Summary struct {
	Client        string // ClientRaw or ClientPaho
	Modems        int
	Connected     int // connected when the run ended (before the fleet shut down)
	MaxConnected  int // peak seen by the progress sampler
	EverConnected int // modems that connected at least once
	Sent          uint64
	Acked         uint64
	Dropped       uint64 // uplinks dropped from full offline buffers
	Reconnects    uint64
	CmdReceived   uint64
	CmdDuplicates uint64
	CmdResults    map[protocol.Status]uint64
	Latency       Percentiles // commands: paho: modem-side latency; raw: from the request ts to the PUBACK of "succeeded"
	Errors        map[string]uint64
	Elapsed       time.Duration
	Resent        uint64            // uplinks sent again after a reconnect (raw client)
	RampTime      time.Duration     // from the start until every modem was connected at once (raw; 0: never)
	AckRate       float64           // PUBACKs per second from RampTime to the end (raw)
	AckedByClass  map[string]uint64 // acknowledged uplinks by message class (raw)
	Sink          int               // sink connections (raw; 0: none)
	Forwarded     uint64            // publishes the sink received (raw, Sink > 0)
	ForwardRate   float64           // of those, per second from RampTime to the end
}

// String formats the summary as a few lines of text.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "modems=%d connected=%d max_connected=%d ever_connected=%d elapsed=%s\n",
		s.Modems, s.Connected, s.MaxConnected, s.EverConnected, s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "uplinks sent=%d acked=%d dropped=%d resent=%d reconnects=%d\n", s.Sent, s.Acked, s.Dropped, s.Resent, s.Reconnects)
	if s.Client == ClientRaw {
		fmt.Fprintf(&b, "all connected after=%s steady ack rate=%.0f/s\n", s.RampTime.Round(time.Millisecond), s.AckRate)
		fmt.Fprintf(&b, "acked by class %s\n", formatMap(s.AckedByClass))
		if s.Sink > 0 {
			fmt.Fprintf(&b, "sink connections=%d forwarded=%d steady forward rate=%.0f/s\n", s.Sink, s.Forwarded, s.ForwardRate)
		}
	}
	fmt.Fprintf(&b, "commands received=%d duplicates=%d results=%s\n", s.CmdReceived, s.CmdDuplicates, formatMap(s.CmdResults))
	fmt.Fprintf(&b, "command round trip (request ts to result acked) n=%d p50=%s p90=%s p99=%s max=%s\n", s.Latency.Count,
		s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max)
	fmt.Fprintf(&b, "errors %s\n", formatMap(s.Errors))
	return b.String()
}

func formatMap[K ~string](m map[K]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[K(k)])
	}
	return strings.Join(parts, " ")
}

// latencies is a bounded reservoir of command latencies.
type latencies struct {
	mu   sync.Mutex
	seen int
	xs   []time.Duration
	rng  uint64
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen++
	if len(l.xs) < maxLatencySamples {
		l.xs = append(l.xs, d)
		return
	}
	// Reservoir sampling (xorshift, deterministic) keeps the percentiles unbiased.
	l.rng ^= l.rng << 13
	l.rng ^= l.rng >> 7
	l.rng ^= l.rng << 17
	if j := int(l.rng % uint64(l.seen)); j < len(l.xs) {
		l.xs[j] = d
	}
}

func (l *latencies) percentiles() Percentiles {
	l.mu.Lock()
	xs := slices.Clone(l.xs)
	seen := l.seen
	l.mu.Unlock()
	p := PercentilesOf(xs)
	p.Count = seen
	return p
}

// PercentilesOf summarises xs (nearest-rank percentiles); it sorts xs in place.
func PercentilesOf(xs []time.Duration) Percentiles {
	if len(xs) == 0 {
		return Percentiles{}
	}
	slices.Sort(xs)
	q := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(xs)))) - 1
		return xs[max(0, min(i, len(xs)-1))]
	}
	return Percentiles{Count: len(xs), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: xs[len(xs)-1]}
}

// String formats the percentiles in milliseconds.
func (p Percentiles) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", p.Count, ms(p.P50), ms(p.P90), ms(p.P99), ms(p.Max))
}

// Run starts the fleet (ramping up at cfg.Ramp modems per second), runs until ctx is
// done or cfg.Duration has passed, shuts every modem down gracefully and returns the
// summary. An error is returned only for an invalid configuration.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	imeis, err := cfg.Members()
	if err != nil {
		return Summary{}, err
	}
	if cfg.Broker == "" {
		return Summary{}, fmt.Errorf("%w: empty broker", ErrConfig)
	}
	if cfg.Ramp < 0 || cfg.Duration < 0 {
		return Summary{}, fmt.Errorf("%w: negative ramp or duration", ErrConfig)
	}
	if cfg.Bus == "" {
		cfg.Bus = protocol.BusMDB
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if cfg.Sink < 0 || cfg.Sink > maxSink {
		return Summary{}, fmt.Errorf("%w: sink connections must be 0..%d", ErrConfig, maxSink)
	}
	switch cfg.client() {
	case ClientRaw:
		return runRaw(ctx, cfg, imeis)
	case ClientPaho:
		if cfg.Sink > 0 {
			return Summary{}, fmt.Errorf("%w: a sink needs the raw client", ErrConfig)
		}
	default:
		return Summary{}, fmt.Errorf("%w: client %q: want raw or paho", ErrConfig, cfg.Client)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	lat := &latencies{rng: uint64(cfg.Seed) | 1}

	f := &running{cfg: cfg, start: time.Now()}
	mctx, stopModems := context.WithCancel(context.Background())
	defer stopModems()
	var wg sync.WaitGroup

	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p := f.progress()
				if cfg.Progress != nil {
					cfg.Progress(p)
				}
			}
		}
	}()

	var interval time.Duration
	if cfg.Ramp > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Ramp)
	}
	next := time.Now()
ramp:
	for i, imei := range imeis {
		if interval > 0 && i > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
					break ramp
				case <-time.After(d):
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		mc := modem.Config{
			Broker: cfg.Broker, IMEI: imei, Password: Password(cfg.Secret, imei),
			HBInterval: cfg.HBInterval, Keepalive: cfg.Keepalive,
			Firmware: "vendemu-fleet", Bus: cfg.Bus,
			Cashless:  protocol.Cashless{Enabled: true, Address: 1, Level: 3},
			EventRate: cfg.EventRate, VendRate: cfg.VendRate,
			Machine:      machine.New(machine.Config{Seed: cfg.Seed + int64(i), Now: cfg.Now}),
			Now:          cfg.Now,
			Logger:       cfg.Logger,
			ReconnectMin: cfg.ReconnectMin, ReconnectMax: cfg.ReconnectMax, BufferMax: cfg.BufferMax,
			Seed: cfg.Seed + int64(i),
			OnResult: func(_ protocol.CommandRequest, _ protocol.CommandResult, d time.Duration) {
				lat.add(d)
			},
		}
		if mc.Bus == protocol.BusNone {
			mc.Cashless = protocol.Cashless{}
		}
		if cfg.Tweak != nil {
			cfg.Tweak(&mc)
		}
		m, err := modem.New(mc)
		if err != nil {
			f.noteError("config")
			continue
		}
		f.add(m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = m.Run(mctx)
		}()
	}
	<-ctx.Done()
	<-progressDone
	final := f.progress() // before the shutdown takes the modems offline
	stopModems()
	wg.Wait()

	s := f.summary()
	s.Client = ClientPaho
	s.Connected = final.Connected
	s.Latency = lat.percentiles()
	s.Elapsed = time.Since(f.start)
	return s, nil
}

// running tracks the modems of one Run.
type running struct {
	cfg    Config
	start  time.Time
	mu     sync.Mutex
	modems []*modem.Modem
	maxCon int
	errs   map[string]uint64
}

func (f *running) add(m *modem.Modem) {
	f.mu.Lock()
	f.modems = append(f.modems, m)
	f.mu.Unlock()
}

func (f *running) noteError(kind string) {
	f.mu.Lock()
	if f.errs == nil {
		f.errs = map[string]uint64{}
	}
	f.errs[kind]++
	f.mu.Unlock()
}

func (f *running) list() []*modem.Modem {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.modems)
}

func (f *running) progress() Progress {
	ms := f.list()
	p := Progress{Elapsed: time.Since(f.start), Started: len(ms)}
	for _, m := range ms {
		st := m.Stats()
		if st.Connected {
			p.Connected++
		}
		p.Sent += st.Sent
		p.Acked += st.Acked
		p.Buffered += st.Buffered
		p.CmdReceived += st.CmdReceived
		p.Reconnects += st.Reconnects
		for k, v := range st.CmdResults {
			if k.Terminal() {
				p.CmdDone += v
			}
		}
	}
	f.mu.Lock()
	f.maxCon = max(f.maxCon, p.Connected)
	f.mu.Unlock()
	return p
}

func (f *running) summary() Summary {
	ms := f.list()
	s := Summary{Modems: len(ms), CmdResults: map[protocol.Status]uint64{}, Errors: map[string]uint64{}}
	for _, m := range ms {
		st := m.Stats()
		if st.Connects > 0 {
			s.EverConnected++
		}
		s.Sent += st.Sent
		s.Acked += st.Acked
		s.Dropped += st.Dropped
		s.Reconnects += st.Reconnects
		s.CmdReceived += st.CmdReceived
		s.CmdDuplicates += st.CmdDuplicates
		for k, v := range st.CmdResults {
			s.CmdResults[k] += v
		}
		for k, v := range st.Errors {
			s.Errors[k] += v
		}
	}
	f.mu.Lock()
	s.MaxConnected = f.maxCon
	for k, v := range f.errs {
		s.Errors[k] += v
	}
	f.mu.Unlock()
	return s
}
