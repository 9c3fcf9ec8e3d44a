package modem

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"vendgate/dex"
	"vendgate/emulator/bus"
	"vendgate/emulator/machine"
	"vendgate/protocol"
)

// Defaults for Config fields left zero.
const (
	DefaultHBInterval     = 30 * time.Second // protocol.md: heartbeat every 30–60 s
	DefaultKeepalive      = 30 * time.Second // protocol.md: keepalive > 0, 30 s default
	DefaultConnectTimeout = 10 * time.Second
	DefaultReconnectMin   = 1 * time.Second
	DefaultReconnectMax   = 60 * time.Second
	DefaultRebootDelay    = 2 * time.Second
	DefaultBufferMax      = 1000
	DefaultInflightMax    = 32
	DefaultFirmware       = "vendemu-1.0"
	rememberedCommands    = 32 // protocol.md: the modem remembers the last 32 command ids
)

// Errors.
var (
	ErrConfig       = errors.New("modem: invalid config")
	ErrNotConnected = errors.New("modem: not connected")
	ErrSubscribe    = errors.New("modem: subscribe failed")
	// ErrDEX marks a failed DEX read of the machine's audit; the error also
	// matches the dex package's sentinel (dex.ErrTimeout, dex.ErrCRC, ...).
	ErrDEX = errors.New("modem: dex read of the machine audit failed")
)

// ResultHook is called after the modem publishes a command's terminal result;
// latency runs from the request's ts to that publish, on the modem's clock.
type ResultHook func(req protocol.CommandRequest, res protocol.CommandResult, latency time.Duration)

// Config configures a modem. Zero fields take the defaults above.
type Config struct {
	Broker         string        // broker URL: tcp://host:port (also mqtt://, ssl://, tls://, mqtts://)
	TLS            *tls.Config   // for ssl/tls/mqtts brokers; nil means the system defaults
	IMEI           string        // 14..16 digits; client id and username
	Password       string        // the modem's MQTT password
	HBInterval     time.Duration // heartbeat period; set_config may change it
	Keepalive      time.Duration // MQTT keepalive, > 0
	ConnectTimeout time.Duration // for one connection attempt (TCP + CONNACK)

	ICCID, HWVersion, BootVersion, Firmware, Phone string // reported in Hello
	Bus                                            protocol.Bus
	Cashless                                       protocol.Cashless

	EventRate float64 // random machine events per minute (0 = none)
	VendRate  float64 // random customer vends per minute (0 = none)

	Machine *machine.Machine // the machine; nil means machine.New with Seed
	Now     func() time.Time // clock for timestamps and expiry; nil means time.Now
	Logger  *slog.Logger     // nil means discard

	ReconnectMin time.Duration // first reconnect delay; doubles per failure
	ReconnectMax time.Duration // cap of the reconnect delay
	RebootDelay  time.Duration // how long a "reset" keeps the modem offline
	BufferMax    int           // uplinks kept while offline; the oldest are dropped beyond it
	InflightMax  int           // unacknowledged QoS 1 publishes at once
	Seed         int64         // seeds jitter, signal and the default machine

	// DEX configures the in-process DEX/UCS link over which the modem reads
	// its machine's audit (both ends). nil means fast in-process timing:
	// spec timeouts, but almost no turnaround delay or intersession pause.
	// Set the spec defaults (dex.Config{}) to read at a real line's pace.
	DEX *dex.Config

	// MDB tunes the in-process MDB bus run when Bus is mdb: the modem's
	// cashless reader on one end, the machine's VMC on the other (package
	// emulator/bus). Address, Disabled and Level are taken from Cashless.
	// Zero fields take the bus defaults (50 ms polls).
	MDB bus.MDBConfig

	// EXE tunes the in-process Executive bus run when Bus is exe: the
	// modem's payment system polling the machine (package emulator/bus).
	// Disabled is taken from Cashless; PriceHolding picks the mode (off:
	// the machine reports prices and dispense is refused). Zero fields
	// take the bus defaults (50 ms polls).
	EXE bus.EXEConfig

	OnResult  ResultHook         // optional: every terminal command result
	OnConnect func(epoch uint64) // optional: after each session's setup (subscribe, state, hello)
}

// Stats are the modem's counters since New.
type Stats struct {
	Connected     bool
	Epoch         uint64
	Sent          uint64 // QoS 1 publishes handed to the connection (resends included)
	Acked         uint64 // PUBACKs received
	Dropped       uint64 // uplinks dropped because the offline buffer was full
	Buffered      int    // uplinks waiting to be sent
	Inflight      int    // published, not yet acknowledged
	CmdReceived   uint64 // command requests received (duplicates included)
	CmdDuplicates uint64 // requests whose id was seen before (answered from memory)
	CmdResults    map[protocol.Status]uint64
	Connects      uint64            // successful sessions
	Reconnects    uint64            // sessions after the first
	Errors        map[string]uint64 // by kind: connect, subscribe, publish, decode, lost, dex
	LastError     string
}

// uplink is one QoS 1 message waiting for its PUBACK.
type uplink struct {
	seq      uint64
	topic    string
	payload  []byte
	retained bool
}

// Modem is one emulated modem. Create it with New and start it with Run.
type Modem struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	mach *machine.Machine
	mdb  *bus.MDB      // the payment bus when Bus is mdb, else nil
	exe  *bus.EXE      // the payment bus when Bus is exe, else nil
	wake chan struct{} // buffered(1): the sender has something to do

	mu       sync.Mutex
	rng      *rand.Rand
	hb       time.Duration
	hbReset  chan struct{}
	phone    string
	cashless protocol.Cashless
	epoch    uint64
	boot     time.Time
	nonce    string
	seq      uint64
	queue    []*uplink
	sess     *session
	cmds     map[string]*cmdEntry
	cmdOrder []string
	st       Stats

	dexSlave func(*dex.Slave) // test hook: adjusts the machine end of the DEX link
}

// cmdEntry remembers what the modem answered to one command id.
type cmdEntry struct {
	last protocol.CommandResult
	done bool
}

// New checks cfg and builds a modem; it does not connect.
func New(cfg Config) (*Modem, error) {
	if cfg.Broker == "" {
		return nil, fmt.Errorf("%w: empty broker", ErrConfig)
	}
	if _, err := url.Parse(cfg.Broker); err != nil {
		return nil, fmt.Errorf("%w: broker: %w", ErrConfig, err)
	}
	if !protocol.ValidIMEI(cfg.IMEI) {
		return nil, fmt.Errorf("%w: imei %q is not 14..16 digits", ErrConfig, cfg.IMEI)
	}
	if cfg.HBInterval < 0 || cfg.Keepalive < 0 || cfg.BufferMax < 0 || cfg.EventRate < 0 || cfg.VendRate < 0 {
		return nil, fmt.Errorf("%w: negative interval, buffer or rate", ErrConfig)
	}
	setDefault(&cfg.HBInterval, DefaultHBInterval)
	setDefault(&cfg.Keepalive, DefaultKeepalive)
	setDefault(&cfg.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&cfg.ReconnectMin, DefaultReconnectMin)
	setDefault(&cfg.ReconnectMax, DefaultReconnectMax)
	setDefault(&cfg.RebootDelay, DefaultRebootDelay)
	setDefault(&cfg.BufferMax, DefaultBufferMax)
	setDefault(&cfg.InflightMax, DefaultInflightMax)
	setDefault(&cfg.Firmware, DefaultFirmware)
	setDefault(&cfg.Bus, protocol.BusNone)
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mach := cfg.Machine
	if mach == nil {
		mach = machine.New(machine.Config{Seed: cfg.Seed, Now: cfg.Now})
	}
	m := &Modem{
		cfg:      cfg,
		log:      log.With("imei", cfg.IMEI),
		now:      cfg.Now,
		mach:     mach,
		wake:     make(chan struct{}, 1),
		rng:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6d6f64656d)), //nolint:gosec // simulation
		hb:       cfg.HBInterval,
		hbReset:  make(chan struct{}, 1),
		phone:    cfg.Phone,
		cashless: cfg.Cashless,
		cmds:     map[string]*cmdEntry{},
	}
	m.st.CmdResults = map[protocol.Status]uint64{}
	m.st.Errors = map[string]uint64{}
	if cfg.Bus == protocol.BusMDB {
		mc := cfg.MDB
		mc.Address, mc.Disabled, mc.Level = cfg.Cashless.Address, !cfg.Cashless.Enabled, byte(cfg.Cashless.Level)
		var err error
		if m.mdb, err = bus.NewMDB(mach, mc); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if cfg.Bus == protocol.BusEXE {
		ec := cfg.EXE
		ec.Disabled = !cfg.Cashless.Enabled
		var err error
		if m.exe, err = bus.NewEXE(mach, ec); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	m.rebootLocked()
	return m, nil
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// rebootLocked restarts the modem's uptime and message-id nonce (at New and after a
// reset): message ids are "{nonce}-{seq}" with the boot time as nonce, so a restarted
// emulator does not reuse ids the gateway has already seen.
func (m *Modem) rebootLocked() {
	m.boot = m.now()
	m.nonce = strconv.FormatInt(m.boot.UnixMilli(), 36)
}

// IMEI returns the modem's IMEI.
func (m *Modem) IMEI() string { return m.cfg.IMEI }

// Machine returns the machine the modem is attached to.
func (m *Modem) Machine() *machine.Machine { return m.mach }

// MDB returns the modem's MDB bus (reader and the machine's VMC), or nil
// when Bus is not mdb.
func (m *Modem) MDB() *bus.MDB { return m.mdb }

// EXE returns the modem's Executive bus (its payment system and the
// machine's controller), or nil when Bus is not exe.
func (m *Modem) EXE() *bus.EXE { return m.exe }

// Connected reports whether a session is up (CONNACK received and set up).
func (m *Modem) Connected() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sess != nil && m.sess.ready
}

// Epoch returns the epoch of the current (or last) connection attempt; 0 before the first.
func (m *Modem) Epoch() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.epoch
}

// Stats returns a snapshot of the counters.
func (m *Modem) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.st
	s.Connected = m.sess != nil && m.sess.ready
	s.Epoch = m.epoch
	s.Buffered = len(m.queue)
	if m.sess != nil {
		s.Inflight = len(m.sess.inflight)
	}
	s.CmdResults = make(map[protocol.Status]uint64, len(m.st.CmdResults))
	for k, v := range m.st.CmdResults {
		s.CmdResults[k] = v
	}
	s.Errors = make(map[string]uint64, len(m.st.Errors))
	for k, v := range m.st.Errors {
		s.Errors[k] = v
	}
	return s
}

func (m *Modem) noteError(kind string, err error) {
	m.mu.Lock()
	m.st.Errors[kind]++
	m.st.LastError = kind + ": " + err.Error()
	m.mu.Unlock()
	m.log.Debug("modem error", "kind", kind, "err", err)
}

// Run connects and serves until ctx is done, reconnecting with exponential backoff and
// jitter whenever the connection drops. On ctx done it publishes a retained
// State{online:false, reason:"shutdown"}, disconnects cleanly and returns nil.
func (m *Modem) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); m.activity(actx) }()
	if m.mdb != nil {
		// The bus runs while the modem is powered, online or not.
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.mdb.Run(actx); err != nil {
				m.noteError("bus", err)
			}
		}()
	}
	if m.exe != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.exe.Run(actx); err != nil {
				m.noteError("bus", err)
			}
		}()
	}

	m.mach.PowerUp()
	m.drainMachine()
	failures := 0
	for ctx.Err() == nil {
		sess, err := m.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			m.noteError("connect", err)
			failures++
			if !sleepCtx(ctx, m.backoff(failures)) {
				break
			}
			continue
		}
		failures = 0
		reboot := m.serve(ctx, sess)
		if ctx.Err() != nil {
			break
		}
		delay := m.backoff(1)
		if reboot {
			delay = m.cfg.RebootDelay
			m.mu.Lock()
			m.rebootLocked()
			m.mu.Unlock()
		}
		if !sleepCtx(ctx, delay) {
			break
		}
	}
	return nil
}

// backoff returns the delay before attempt n (n >= 1): ReconnectMin·2^(n-1), capped
// at ReconnectMax, with "equal jitter" (uniform in [d/2, d]) so a fleet that lost
// its broker does not reconnect in lockstep.
func (m *Modem) backoff(n int) time.Duration {
	d := m.cfg.ReconnectMin
	for i := 1; i < n && d < m.cfg.ReconnectMax; i++ {
		d *= 2
	}
	d = min(d, m.cfg.ReconnectMax)
	m.mu.Lock()
	j := time.Duration(m.rng.Int64N(int64(d/2) + 1))
	m.mu.Unlock()
	return d/2 + j
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// activity drives the machine's random life: customer vends and machine events as
// Poisson processes at the configured rates. It runs while offline too; what it
// produces is buffered.
func (m *Modem) activity(ctx context.Context) {
	if m.cfg.EventRate <= 0 && m.cfg.VendRate <= 0 {
		return
	}
	next := func(rate float64) time.Duration {
		if rate <= 0 {
			return time.Duration(1<<62 - 1)
		}
		m.mu.Lock()
		x := m.rng.ExpFloat64()
		m.mu.Unlock()
		return time.Duration(x * float64(time.Minute) / rate)
	}
	start := time.Now()
	nextEvt, nextVend := next(m.cfg.EventRate), next(m.cfg.VendRate)
	for {
		at := min(nextEvt, nextVend)
		if !sleepCtx(ctx, time.Until(start.Add(at))) {
			return
		}
		if nextEvt <= nextVend {
			m.mach.RandomEvent()
			nextEvt += next(m.cfg.EventRate)
		} else {
			if rec, err := m.mach.RandomVend(); err == nil || rec.Selection != "" {
				_ = m.SendVend(rec, "")
			}
			nextVend += next(m.cfg.VendRate)
		}
		m.drainMachine()
	}
}

// drainMachine publishes the machine's queued events.
func (m *Modem) drainMachine() {
	for _, ev := range m.mach.Events() {
		if err := m.sendEventAt(ev.Code, ev.Time, ev.Payload); err != nil {
			m.noteError("encode", err)
		}
	}
}

// ---- sessions ----

// session is one MQTT connection.
type session struct {
	client   mqtt.Client
	epoch    uint64
	ready    bool // set up (guarded by Modem.mu)
	inflight map[uint64]*uplink
	done     chan struct{}
	once     sync.Once
	reboot   atomic.Bool

	cmu  sync.Mutex
	conn net.Conn
}

func (s *session) end() { s.once.Do(func() { close(s.done) }) }

// drop closes the TCP connection without DISCONNECT, so the broker sends the Will.
func (s *session) drop() {
	s.cmu.Lock()
	c := s.conn
	s.cmu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	s.end()
}

func (m *Modem) topic(c protocol.Class) string { return protocol.TopicFor(m.cfg.IMEI, c) }

// connect makes one connection attempt and sets the session up.
func (m *Modem) connect(ctx context.Context) (*session, error) {
	// protocol.md §6: the epoch goes up before every CONNECT attempt, so two attempts
	// never share one (a CONNACK lost in transit would otherwise make the broker's
	// Will and the next session look alike).
	m.mu.Lock()
	m.epoch++
	epoch := m.epoch
	m.mu.Unlock()
	sess := &session{epoch: epoch, inflight: map[uint64]*uplink{}, done: make(chan struct{})}
	will, err := encode(protocol.State{Header: m.header(), Online: false, Epoch: epoch, Reason: "lwt"})
	if err != nil {
		return nil, err
	}
	opts := mqtt.NewClientOptions().
		AddBroker(m.cfg.Broker).
		SetClientID(m.cfg.IMEI).
		SetUsername(m.cfg.IMEI).
		SetPassword(m.cfg.Password).
		SetCleanSession(true).
		SetKeepAlive(m.cfg.Keepalive).
		SetPingTimeout(min(m.cfg.Keepalive, 10*time.Second)).
		SetConnectTimeout(m.cfg.ConnectTimeout).
		SetWriteTimeout(m.cfg.ConnectTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(false).
		SetBinaryWill(m.topic(protocol.ClassState), will, 1, true).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			c, err := m.dial(ctx, u)
			if err == nil {
				sess.cmu.Lock()
				sess.conn = c
				sess.cmu.Unlock()
			}
			return c, err
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			m.noteError("lost", err)
			sess.end()
		})
	client := mqtt.NewClient(opts)
	sess.client = client
	tok := client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		client.Disconnect(0)
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("modem: connect %s: %w", m.cfg.Broker, err)
	}

	m.mu.Lock()
	m.sess = sess
	m.st.Connects++
	if m.st.Connects > 1 {
		m.st.Reconnects++
	}
	m.mu.Unlock()

	// protocol.md §1: the command subscription first, then state online and
	// hello. Subscribing first lets the gateway send queued commands while
	// the state and hello are still being stored (after a gateway restart
	// that is a reconnect storm's worth of commits); their results wait in
	// the outbox until the session is set up.
	stok := client.Subscribe(protocol.CommandRequestFilter(m.cfg.IMEI), 1, func(_ mqtt.Client, msg mqtt.Message) {
		m.onCommand(sess, msg.Topic(), msg.Payload())
	})
	if !stok.WaitTimeout(m.cfg.ConnectTimeout) || stok.Error() != nil {
		err := fmt.Errorf("%w: %v", ErrSubscribe, stok.Error())
		m.noteError("subscribe", err)
		sess.drop()
		m.endSession(sess)
		return nil, err
	}
	if err := m.publishDirect(sess, protocol.ClassState, m.stateOnline(epoch), true); err != nil {
		m.endSession(sess)
		return nil, err
	}
	if err := m.publishDirect(sess, protocol.ClassHello, m.hello(), false); err != nil {
		m.endSession(sess)
		return nil, err
	}
	m.mu.Lock()
	sess.ready = true
	m.mu.Unlock()
	m.log.Info("connected", "epoch", epoch)
	if m.cfg.OnConnect != nil {
		m.cfg.OnConnect(epoch)
	}
	return sess, nil
}

func (m *Modem) dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	d := net.Dialer{Timeout: m.cfg.ConnectTimeout}
	switch u.Scheme {
	case "tcp", "mqtt", "":
		return d.DialContext(ctx, "tcp", u.Host)
	case "ssl", "tls", "mqtts", "tcps":
		td := tls.Dialer{NetDialer: &d, Config: m.cfg.TLS}
		return td.DialContext(ctx, "tcp", u.Host)
	}
	return nil, fmt.Errorf("%w: unsupported broker scheme %q", ErrConfig, u.Scheme)
}

// serve runs one session until it ends or ctx is done. It reports whether the
// session ended by a "reset" command (a reboot).
func (m *Modem) serve(ctx context.Context, sess *session) bool {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); m.sender(sess) }()
	go func() { defer wg.Done(); m.heartbeats(sess) }()
	m.signal()
	select {
	case <-sess.done:
		m.endSession(sess)
	case <-ctx.Done():
		m.shutdown(sess)
	}
	wg.Wait()
	return sess.reboot.Load()
}

// endSession detaches sess and puts its unacknowledged messages back at the front of
// the queue, in their original order.
func (m *Modem) endSession(sess *session) {
	sess.end()
	if sess.client.IsConnected() {
		sess.drop()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sess == sess {
		m.sess = nil
	}
	if len(sess.inflight) == 0 {
		return
	}
	back := make([]*uplink, 0, len(sess.inflight))
	for _, u := range sess.inflight {
		back = append(back, u)
	}
	sess.inflight = map[uint64]*uplink{}
	slices.SortFunc(back, func(a, b *uplink) int { return int(a.seq - b.seq) })
	m.queue = append(back, m.queue...)
	m.trimLocked()
	m.log.Info("disconnected", "requeued", len(back))
}

// shutdown ends sess gracefully: wait briefly for the buffer to drain, publish a
// retained State offline with reason "shutdown", then DISCONNECT (no Will).
func (m *Modem) shutdown(sess *session) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		idle := len(m.queue) == 0 && len(sess.inflight) == 0
		m.mu.Unlock()
		if idle {
			break
		}
		select {
		case <-sess.done:
			deadline = time.Now()
		case <-time.After(20 * time.Millisecond):
		}
	}
	m.offline(sess, "shutdown")
	m.endSession(sess)
}

// offline publishes a retained State{online:false, reason} and disconnects cleanly.
func (m *Modem) offline(sess *session, reason string) {
	m.mu.Lock()
	epoch := sess.epoch
	m.mu.Unlock()
	if b, err := encode(protocol.State{Header: m.header(), Online: false, Epoch: epoch, Reason: reason}); err == nil {
		t := sess.client.Publish(m.topic(protocol.ClassState), 1, true, b)
		t.WaitTimeout(time.Second)
	}
	sess.client.Disconnect(250)
	sess.end()
}

// sender publishes queued uplinks on sess, at most InflightMax unacknowledged.
func (m *Modem) sender(sess *session) {
	for {
		m.mu.Lock()
		for len(m.queue) == 0 || len(sess.inflight) >= m.cfg.InflightMax || m.sess != sess {
			m.mu.Unlock()
			select {
			case <-m.wake:
			case <-sess.done:
				return
			}
			m.mu.Lock()
		}
		select {
		case <-sess.done:
			m.mu.Unlock()
			return
		default:
		}
		u := m.queue[0]
		m.queue[0] = nil
		m.queue = m.queue[1:]
		sess.inflight[u.seq] = u
		m.st.Sent++
		m.mu.Unlock()
		tok := sess.client.Publish(u.topic, 1, u.retained, u.payload)
		go m.await(sess, u, tok)
	}
}

// await waits for u's PUBACK. A failed publish ends the session: the message stays
// in flight and is re-queued by endSession.
func (m *Modem) await(sess *session, u *uplink, tok mqtt.Token) {
	select {
	case <-tok.Done():
	case <-sess.done:
		return
	}
	if err := tok.Error(); err != nil {
		select {
		case <-sess.done: // the session is ending anyway (shutdown, reboot, loss)
		default:
			m.noteError("publish", err)
			sess.drop()
		}
		return
	}
	m.mu.Lock()
	if sess.inflight[u.seq] == u {
		delete(sess.inflight, u.seq)
		m.st.Acked++
	}
	m.mu.Unlock()
	m.signal()
}

// publishDirect publishes a session-setup message (state, hello) ahead of the queue
// and waits for its PUBACK.
func (m *Modem) publishDirect(sess *session, c protocol.Class, v any, retained bool) error {
	b, err := encode(v)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.st.Sent++
	m.mu.Unlock()
	tok := sess.client.Publish(m.topic(c), 1, retained, b)
	if !tok.WaitTimeout(m.cfg.ConnectTimeout) {
		err := fmt.Errorf("modem: publish %s: no puback in %v", c, m.cfg.ConnectTimeout)
		m.noteError("publish", err)
		return err
	}
	if err := tok.Error(); err != nil {
		m.noteError("publish", err)
		return err
	}
	m.mu.Lock()
	m.st.Acked++
	m.mu.Unlock()
	return nil
}

func (m *Modem) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// enqueue adds an uplink to the send buffer.
func (m *Modem) enqueue(topic string, payload []byte, retained bool) {
	m.mu.Lock()
	m.seq++
	m.queue = append(m.queue, &uplink{seq: m.seq, topic: topic, payload: payload, retained: retained})
	m.trimLocked()
	m.mu.Unlock()
	m.signal()
}

func (m *Modem) trimLocked() {
	if over := len(m.queue) - m.cfg.BufferMax; over > 0 {
		clear(m.queue[:over])
		m.queue = m.queue[over:]
		m.st.Dropped += uint64(over)
	}
}

// heartbeats publishes a heartbeat every HBInterval while sess lives.
func (m *Modem) heartbeats(sess *session) {
	for {
		m.mu.Lock()
		d := m.hb
		m.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-t.C:
			m.drainMachine()
			_ = m.SendHeartbeat()
		case <-m.hbReset:
			t.Stop()
		case <-sess.done:
			t.Stop()
			return
		}
	}
}

// Disconnect drops the TCP connection abruptly (no DISCONNECT packet), as a modem
// losing power or coverage would, so the broker publishes the Will. Run reconnects
// after the usual backoff.
func (m *Modem) Disconnect() {
	m.mu.Lock()
	s := m.sess
	m.mu.Unlock()
	if s != nil {
		s.drop()
	}
}

// ---- message builders ----

func (m *Modem) header() protocol.Header {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.headerLocked()
}

func (m *Modem) headerLocked() protocol.Header {
	m.seq++
	return protocol.Header{V: protocol.Version, ID: m.nonce + "-" + strconv.FormatUint(m.seq, 10), TS: millis(m.now())}
}

func (m *Modem) stateOnline(epoch uint64) protocol.State {
	return protocol.State{Header: m.header(), Online: true, Epoch: epoch}
}

// caps lists the commands this modem executes.
var caps = []string{
	string(protocol.CmdReset), string(protocol.CmdCashlessMode), string(protocol.CmdCashlessAddress),
	string(protocol.CmdCashlessCredit), string(protocol.CmdDispense), string(protocol.CmdRequest),
	string(protocol.CmdSetConfig),
}

func (m *Modem) hello() protocol.Hello {
	m.mu.Lock()
	defer m.mu.Unlock()
	return protocol.Hello{
		Header:      m.headerLocked(),
		IMEI:        m.cfg.IMEI,
		ICCID:       m.cfg.ICCID,
		HWVersion:   m.cfg.HWVersion,
		BootVersion: m.cfg.BootVersion,
		Firmware:    m.cfg.Firmware,
		Phone:       m.phone,
		Bus:         m.cfg.Bus,
		Cashless:    m.cashless,
		HBInterval:  min(3600, max(1, int(m.hb/time.Second))),
		Caps:        caps,
	}
}

// ---- public uplinks ----

// SendHeartbeat queues a heartbeat now (the modem also sends one every HBInterval).
func (m *Modem) SendHeartbeat() error {
	var flags protocol.ErrorFlag
	if m.mach.DoorOpen() {
		flags |= protocol.ErrFlagDoorOpen
	}
	if m.mach.Fault() != "" {
		flags |= protocol.ErrFlagVMFault
	}
	m.mu.Lock()
	hb := protocol.Heartbeat{
		Header: m.headerLocked(),
		Uptime: int64(m.now().Sub(m.boot) / time.Second),
		Signal: 12 + m.rng.IntN(20),
		VMLink: true,
		Errors: uint32(flags),
		Epoch:  m.epoch,
	}
	if m.sess != nil {
		hb.Epoch = m.sess.epoch
	}
	m.mu.Unlock()
	return m.send(protocol.ClassHeartbeat, hb)
}

// SendEvent queues an event with code (1..16 of [A-Z0-9_]) and a JSON-encodable
// payload (an object or array, or nil).
func (m *Modem) SendEvent(code string, payload any) error {
	return m.sendEventAt(code, m.now(), payload)
}

func (m *Modem) sendEventAt(code string, at time.Time, payload any) error {
	ev := protocol.Event{Header: m.header(), Code: code, Time: millis(at)}
	if payload != nil {
		if mp, ok := payload.(map[string]any); !ok || len(mp) > 0 {
			raw, err := jsonRaw(payload)
			if err != nil {
				return err
			}
			ev.Payload = raw
		}
	}
	return m.send(protocol.ClassEvent, ev)
}

// SendVend queues the vend rec (cmdID names the command that caused it, or "") and
// the machine events it produced.
func (m *Modem) SendVend(rec machine.VendRecord, cmdID string) error {
	v := protocol.Vend{
		Header: m.header(), Selection: rec.Selection, Price: rec.Price, Payment: rec.Payment,
		Type: rec.Type, OK: rec.OK, Time: millis(rec.Time), Cmd: cmdID,
	}
	err := m.send(protocol.ClassVend, v)
	m.drainMachine()
	return err
}

// Vend makes a vend at the machine (as a customer would) and queues it.
func (m *Modem) Vend(sel int, payment protocol.Payment) (machine.VendRecord, error) {
	rec, err := m.mach.Vend(sel, payment)
	if rec.Selection != "" {
		if serr := m.SendVend(rec, ""); serr != nil {
			return rec, serr
		}
	}
	return rec, err
}

// SendAudit reads the machine's audit over the DEX link and queues it (and
// the TEVA event). An error wrapping ErrDEX means the machine could not be read.
func (m *Modem) SendAudit() error { return m.sendAudit(context.Background(), "") }

// sendAudit reads the audit through DEX (port 2 of protocol.Audit is the DEX
// jack) and queues it.
func (m *Modem) sendAudit(ctx context.Context, cmdID string) error {
	text, err := m.readAudit(ctx)
	if err != nil {
		m.noteError("dex", err)
		m.drainMachine()
		return fmt.Errorf("%w: %w", ErrDEX, err)
	}
	a := protocol.Audit{Header: m.header(), Port: 2, Time: millis(m.now()), Data: string(text), Cmd: cmdID}
	err = m.send(protocol.ClassAudit, a)
	m.drainMachine()
	return err
}

// SendHello queues a Hello (the modem sends one after every connect and after a
// settings change).
func (m *Modem) SendHello() error { return m.send(protocol.ClassHello, m.hello()) }

// SendRaw queues payload as-is on vm/v1/{imei}/{topicSuffix} (e.g. "evt",
// "cmd/res/x"), for sending malformed messages in tests.
func (m *Modem) SendRaw(topicSuffix string, payload []byte) error {
	m.enqueue(protocol.Prefix(m.cfg.IMEI)+topicSuffix, payload, false)
	return nil
}

func (m *Modem) send(c protocol.Class, v any) error {
	b, err := encode(v)
	if err != nil {
		return err
	}
	m.enqueue(m.topic(c), b, false)
	return nil
}
