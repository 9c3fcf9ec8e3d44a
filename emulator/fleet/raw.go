package fleet

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"vendgate/emulator/rawmqtt"
	"vendgate/protocol"
)

// Message tags carried through rawmqtt: 0 an ordinary uplink, tagFlood a flood
// event, anything larger the ts (Unix ms) of the command request that a
// "succeeded" result answers.
const (
	tagPlain = 0
	tagFlood = 1
)

// fullCheckEvery: one command request in this many (and the first) is decoded
// with the full protocol decoder, see rawModem.command.
const fullCheckEvery = 64

// rawFleet runs the fleet on rawmqtt connections: one goroutine per modem (its
// connection's reader and reconnect loop) plus a shared timer heap and a few
// workers for heartbeats, events, vends, audits and keepalive pings.
type rawFleet struct {
	cfg     Config
	addr    string
	sources []net.IP
	run     string // run id in message ids: ids stay unique across runs
	start   time.Time
	lat     *latencies
	dialSem chan struct{}

	stopping atomic.Bool // no new uplinks; commands are still answered

	started, connected                     atomic.Int64
	connects, reconnects                   atomic.Uint64
	sent, acked, resent                    atomic.Uint64
	cmdReceived, cmdDup, cmdAccepted       atomic.Uint64
	cmdSucceeded, cmdExpired, cmdSucceedAk atomic.Uint64
	cmdChecked                             atomic.Uint64     // requests seen by the sampling check
	ackedClass                             [16]atomic.Uint64 // by protocol.Class

	errMu sync.Mutex
	errs  map[string]uint64

	schedMu sync.Mutex
	sched   jobHeap
	wake    chan struct{}

	modemsMu sync.Mutex
	modems   []*rawModem

	sink *sink // nil without Config.Sink
}

type rawModem struct {
	f      *rawFleet
	idx    int
	imei   string
	pass   string
	local  *net.TCPAddr
	booted time.Time
	prefix string // vm/v1/{imei}/

	mu      sync.Mutex
	conn    *rawmqtt.Conn
	epoch   uint64
	rng     uint64
	recent  [8]string // last command ids answered (protocol §7: idempotency)
	nrecent int
	resend  []rawmqtt.Message // unacked when the last connection ended

	everConnected bool

	seq atomic.Uint64 // message ids: no lock per uplink
}

func (f *rawFleet) noteError(kind string) {
	f.errMu.Lock()
	f.errs[kind]++
	f.errMu.Unlock()
}

// errKind classifies a connection error for the summary.
func errKind(stage string, err error) string {
	var ce *rawmqtt.ConnackError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("connack_%d", ce.Code)
	case errors.Is(err, syscall.ECONNREFUSED):
		return stage + "_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return stage + "_reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return stage + "_eof"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return stage + "_too_many_files"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return stage + "_no_ports"
	case errors.As(err, &ne) && ne.Timeout():
		return stage + "_timeout"
	case errors.Is(err, rawmqtt.ErrMalformed), errors.Is(err, rawmqtt.ErrUnsupported), errors.Is(err, rawmqtt.ErrUnexpected):
		return stage + "_protocol"
	}
	return stage + "_other"
}

// brokerAddr turns tcp://host:port (or host:port) into host:port.
func brokerAddr(url string) (string, error) {
	s := url
	if i := strings.Index(s, "://"); i >= 0 {
		if scheme := s[:i]; scheme != "tcp" && scheme != "mqtt" {
			return "", fmt.Errorf("%w: the raw client speaks plain tcp:// only, not %s://", ErrConfig, scheme)
		}
		s = s[i+3:]
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return "", fmt.Errorf("%w: broker %q: %v", ErrConfig, url, err)
	}
	return s, nil
}

// ParseSourceRange parses "127.0.0.2-127.0.0.250" (or one address) into the list
// of IPv4 source addresses connections are spread over.
func ParseSourceRange(s string) ([]net.IP, error) {
	if s == "" {
		return nil, nil
	}
	lo, hi, _ := strings.Cut(s, "-")
	a, b := net.ParseIP(strings.TrimSpace(lo)).To4(), net.ParseIP(strings.TrimSpace(hi)).To4()
	if hi == "" {
		b = a
	}
	if a == nil || b == nil {
		return nil, fmt.Errorf("%w: source range %q: want A.B.C.D-A.B.C.E", ErrConfig, s)
	}
	x, y := ipU32(a), ipU32(b)
	if y < x || y-x > 1<<16 {
		return nil, fmt.Errorf("%w: source range %q is empty or too large", ErrConfig, s)
	}
	out := make([]net.IP, 0, y-x+1)
	for v := x; v <= y; v++ {
		out = append(out, net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)))
	}
	return out, nil
}

func ipU32(ip net.IP) uint32 {
	return uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
}

func runRaw(ctx context.Context, cfg Config, imeis []string) (Summary, error) {
	addr, err := brokerAddr(cfg.Broker)
	if err != nil {
		return Summary{}, err
	}
	if cfg.HBInterval <= 0 {
		cfg.HBInterval = 60 * time.Second
	}
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = 60 * time.Second
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = time.Second
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = max(30*time.Second, cfg.ReconnectMin)
	}
	if cfg.DialParallel <= 0 {
		cfg.DialParallel = 256
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 3 * time.Second
	}
	f := &rawFleet{cfg: cfg, addr: addr, sources: cfg.SourceIPs, start: time.Now(),
		run: strconv.FormatInt(time.Now().UnixMilli()%(1<<31), 36), lat: &latencies{rng: uint64(cfg.Seed) | 1},
		dialSem: make(chan struct{}, cfg.DialParallel), errs: map[string]uint64{}, wake: make(chan struct{}, 1)}

	if cfg.Sink > 0 {
		filter := cfg.SinkFilter
		if filter == "" {
			filter = DefaultSinkFilter
		}
		// The sink counts until the final figures are taken, below.
		sinkCtx, stopSink := context.WithCancel(ctx)
		defer stopSink()
		if f.sink, err = startSink(sinkCtx, addr, filter, f.run, cfg.Sink, f.noteError); err != nil {
			return Summary{}, err
		}
		defer func() { stopSink(); f.sink.wait() }()
	}

	runCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	// mctx outlives runCtx so that modems can drain and say goodbye.
	mctx, stopModems := context.WithCancel(context.Background())
	defer stopModems()

	var wg sync.WaitGroup
	jobs := make(chan job, 1024)
	for range 8 {
		wg.Go(func() {
			for j := range jobs {
				j.m.do(j)
			}
		})
	}
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		f.schedule(mctx, jobs)
	}()

	var ramp rampStats
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		var lastAcked uint64
		lastT := time.Now()
		for {
			select {
			case <-runCtx.Done():
				return
			case now := <-t.C:
				p := f.progress()
				p.AckRate = float64(p.Acked-lastAcked) / now.Sub(lastT).Seconds()
				lastAcked, lastT = p.Acked, now
				ramp.observe(p, len(imeis))
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
	var mwg sync.WaitGroup
ramp:
	for i, imei := range imeis {
		if interval > 0 && i > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-runCtx.Done():
					break ramp
				case <-time.After(d):
				}
			}
		}
		if runCtx.Err() != nil {
			break
		}
		m := &rawModem{f: f, idx: i, imei: imei, pass: Password(cfg.Secret, imei), booted: time.Now(),
			prefix: protocol.Prefix(imei), rng: uint64(cfg.Seed+int64(i))*0x9E3779B97F4A7C15 | 1,
			epoch: uint64(time.Now().UnixMilli())}
		if len(f.sources) > 0 {
			m.local = &net.TCPAddr{IP: f.sources[i%len(f.sources)]}
		}
		f.modemsMu.Lock()
		f.modems = append(f.modems, m)
		f.modemsMu.Unlock()
		f.started.Add(1)
		f.scheduleModem(m)
		mwg.Go(func() { m.lifecycle(mctx) })
	}
	<-runCtx.Done()
	<-progressDone

	// Stop making uplinks, let the in-flight ones be acknowledged, then count.
	f.stopping.Store(true)
	final := f.progress()
	deadline := time.Now().Add(cfg.Drain)
	for time.Now().Before(deadline) && f.progress().Buffered > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(f.start)
	s := f.summary()
	s.Connected = int(final.Connected)
	s.MaxConnected = max(ramp.maxCon, s.Connected)
	s.RampTime = ramp.allAt
	if ramp.allAt > 0 {
		if span := final.Elapsed - ramp.allAt; span > 0 {
			s.AckRate = float64(final.Acked-ramp.ackedAt) / span.Seconds()
			s.ForwardRate = float64(final.Forwarded-ramp.fwdAt) / span.Seconds()
		}
	}
	if f.sink != nil {
		// After the drain: what was acknowledged has had time to be forwarded.
		s.Sink, s.Forwarded = cfg.Sink, f.sink.received.Load()
	}
	s.Elapsed = elapsed
	s.Latency = f.lat.percentiles()

	// Goodbye: retained offline State, then DISCONNECT (protocol §1).
	stopModems()
	f.modemsMu.Lock()
	ms := f.modems
	f.modemsMu.Unlock()
	for _, m := range ms {
		m.goodbye()
	}
	mwg.Wait()
	<-schedDone
	close(jobs)
	wg.Wait()
	return s, nil
}

// rampStats records when every modem was first connected at the same time.
type rampStats struct {
	maxCon  int
	allAt   time.Duration
	ackedAt uint64
	fwdAt   uint64
}

func (r *rampStats) observe(p Progress, n int) {
	r.maxCon = max(r.maxCon, p.Connected)
	if r.allAt == 0 && p.Connected >= n {
		r.allAt, r.ackedAt, r.fwdAt = p.Elapsed, p.Acked, p.Forwarded
	}
}

func (f *rawFleet) progress() Progress {
	f.modemsMu.Lock()
	ms := f.modems
	f.modemsMu.Unlock()
	inflight := 0
	for _, m := range ms {
		m.mu.Lock()
		if m.conn != nil {
			inflight += m.conn.Inflight()
		}
		inflight += len(m.resend)
		m.mu.Unlock()
	}
	p := Progress{Elapsed: time.Since(f.start), Started: int(f.started.Load()), Connected: int(f.connected.Load()),
		Sent: f.sent.Load(), Acked: f.acked.Load(), Buffered: inflight, CmdReceived: f.cmdReceived.Load(),
		CmdDone: f.cmdSucceedAk.Load() + f.cmdExpired.Load(), Reconnects: f.reconnects.Load()}
	if f.sink != nil {
		p.Forwarded = f.sink.received.Load()
	}
	return p
}

func (f *rawFleet) summary() Summary {
	s := Summary{Client: ClientRaw, Modems: int(f.started.Load()), Sent: f.sent.Load(), Acked: f.acked.Load(),
		Resent: f.resent.Load(), Reconnects: f.reconnects.Load(), CmdReceived: f.cmdReceived.Load(),
		CmdDuplicates: f.cmdDup.Load(), CmdResults: map[protocol.Status]uint64{}, Errors: map[string]uint64{}}
	f.modemsMu.Lock()
	for _, m := range f.modems {
		m.mu.Lock()
		if m.everConnected {
			s.EverConnected++
		}
		m.mu.Unlock()
	}
	f.modemsMu.Unlock()
	for st, v := range map[protocol.Status]uint64{protocol.StatusAccepted: f.cmdAccepted.Load(),
		protocol.StatusSucceeded: f.cmdSucceeded.Load(), protocol.StatusExpired: f.cmdExpired.Load()} {
		if v > 0 {
			s.CmdResults[st] = v
		}
	}
	s.AckedByClass = map[string]uint64{}
	for c := range f.ackedClass {
		if v := f.ackedClass[c].Load(); v > 0 {
			s.AckedByClass[protocol.Class(c).String()] = v
		}
	}
	f.errMu.Lock()
	for k, v := range f.errs {
		s.Errors[k] = v
	}
	f.errMu.Unlock()
	return s
}

// lifecycle is the modem's one goroutine: connect, read until the connection
// ends, back off with full jitter, reconnect; until ctx ends.
func (m *rawModem) lifecycle(ctx context.Context) {
	f := m.f
	backoff := f.cfg.ReconnectMin
	first := true
	for ctx.Err() == nil {
		if !first {
			f.reconnects.Add(1)
			if !m.sleep(ctx, m.jitter(backoff)) {
				return
			}
		}
		first = false
		c, err := m.dial(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.noteError(errKind("connect", err))
			}
			backoff = min(2*backoff, f.cfg.ReconnectMax)
			continue
		}
		backoff = f.cfg.ReconnectMin
		f.connects.Add(1)
		f.connected.Add(1)
		err = m.serve(c)
		f.connected.Add(-1)
		m.mu.Lock()
		m.conn = nil
		m.resend = append(m.resend, c.Unacked()...)
		m.mu.Unlock()
		c.Close()
		if ctx.Err() == nil && !errors.Is(err, rawmqtt.ErrClosed) {
			f.noteError(errKind("read", err))
		}
	}
}

func (m *rawModem) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// rand is xorshift64 under m.mu or in the lifecycle goroutine before connecting.
func (m *rawModem) rand() uint64 {
	m.rng ^= m.rng << 13
	m.rng ^= m.rng >> 7
	m.rng ^= m.rng << 17
	return m.rng
}

// jitter is "full jitter": uniform in [d/2, d] keeps a storm spread but bounded.
func (m *rawModem) jitter(d time.Duration) time.Duration {
	m.mu.Lock()
	r := m.rand()
	m.mu.Unlock()
	return d/2 + time.Duration(r%uint64(d/2+1))
}

func (m *rawModem) dial(ctx context.Context) (*rawmqtt.Conn, error) {
	f := m.f
	select {
	case f.dialSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-f.dialSem }()
	m.mu.Lock()
	m.epoch++
	epoch := m.epoch
	m.mu.Unlock()
	now := time.Now().UnixMilli()
	will := fmt.Appendf(nil, `{"v":1,"id":"s-will-%d","ts":%d,"online":false,"epoch":%d,"reason":"lwt"}`, epoch, now, epoch)
	cfg := rawmqtt.Config{Addr: f.addr, Timeout: 10 * time.Second, ReadBuffer: 512,
		Connect: rawmqtt.ConnectOptions{ClientID: m.imei, Username: m.imei, Password: m.pass,
			Keepalive: uint16(min(f.cfg.Keepalive/time.Second, 65535)), CleanSession: true,
			WillTopic: m.prefix + "state", WillPayload: will, WillQoS: 1, WillRetain: true}}
	if m.local != nil {
		cfg.LocalAddr = m.local
	}
	return rawmqtt.Dial(ctx, cfg)
}

// serve runs one connection: the connect sequence of protocol §1, then reads.
func (m *rawModem) serve(c *rawmqtt.Conn) error {
	f := m.f
	m.mu.Lock()
	m.conn = c
	m.everConnected = true
	epoch := m.epoch
	resend := m.resend
	m.resend = nil
	m.mu.Unlock()
	hb := max(1, int(f.cfg.HBInterval/time.Second))
	// The connect sequence below goes out in one write, sent when the read
	// loop first waits for the broker.
	c.Cork()
	// protocol.md §1: subscribe first, so queued commands can come while the
	// state and hello are being stored. The SUBACK is read by the loop below
	// (nothing here waits for it: the packets are pipelined).
	if _, err := c.Subscribe(protocol.CommandRequestFilter(m.imei), 1); err != nil {
		return err
	}
	if err := m.publish(c, "state", fmt.Appendf(nil, `{"v":1,"id":"%s","ts":%d,"online":true,"epoch":%d}`,
		m.id("s"), time.Now().UnixMilli(), epoch), true, tagPlain); err != nil {
		return err
	}
	if err := m.publish(c, "hello", fmt.Appendf(nil, `{"v":1,"id":"%s","ts":%d,"imei":"%s","firmware":"vendemu-raw","bus":"mdb",`+
		`"cashless":{"enabled":true,"address":1,"level":3},"hb_interval":%d}`, m.id("h"), time.Now().UnixMilli(), m.imei, hb), false, tagPlain); err != nil {
		return err
	}
	// Unacknowledged uplinks of the previous connection go again, same ids.
	for _, msg := range resend {
		f.resent.Add(1)
		if _, err := c.Publish(msg.Topic, msg.Payload, 1, msg.Retain, msg.Tag); err != nil {
			return err
		}
	}
	if f.cfg.Flood > 0 && !f.stopping.Load() {
		for range f.cfg.Flood {
			if err := m.floodOne(c); err != nil {
				return err
			}
		}
	}
	// A connection silent for idle..1.5*idle is dead. The deadline is moved
	// only when less than idle is left, not per packet: each move is a
	// runtime timer update, which a flood of acks would pay thousands of
	// times a second.
	idle := 2 * f.cfg.Keepalive
	var deadline time.Time
	for {
		if now := time.Now(); deadline.Sub(now) < idle {
			deadline = now.Add(idle + idle/2)
			_ = c.SetReadDeadline(deadline)
		}
		p, msg, err := c.ReadPacket()
		if err != nil {
			return err
		}
		switch p.Type {
		case rawmqtt.PUBACK:
			if msg == nil {
				f.noteError("puback_unknown_id")
				continue
			}
			f.acked.Add(1)
			if tp, err := protocol.ParseTopic(msg.Topic); err == nil && int(tp.Class) < len(f.ackedClass) {
				f.ackedClass[tp.Class].Add(1)
			}
			switch {
			case msg.Tag == tagFlood:
				if !f.stopping.Load() {
					if err := m.floodOne(c); err != nil {
						return err
					}
				}
			case msg.Tag > tagFlood:
				f.cmdSucceedAk.Add(1)
				f.lat.add(time.Since(time.UnixMilli(msg.Tag)))
			}
		case rawmqtt.SUBACK:
			if p.ReturnCode == 0x80 {
				f.noteError("suback_refused")
			}
		case rawmqtt.PUBLISH:
			if err := m.command(c, p); err != nil {
				return err
			}
		}
	}
}

func (m *rawModem) id(kind string) string {
	return string(m.appendID(nil, kind))
}

// appendID appends a new message id: kind-run-seq.
func (m *rawModem) appendID(b []byte, kind string) []byte {
	b = append(b, kind...)
	b = append(b, '-')
	b = append(b, m.f.run...)
	b = append(b, '-')
	return strconv.AppendUint(b, m.seq.Add(1), 10)
}

// payload starts an uplink's JSON object, {"v":1,"id":"…","ts":ms, with room
// for size bytes: the frequent uplinks are appended field by field instead of
// going through fmt (same bytes, a fraction of the CPU).
func (m *rawModem) payload(size int, kind string, ms int64) []byte {
	b := make([]byte, 0, size)
	b = append(b, `{"v":1,"id":"`...)
	b = m.appendID(b, kind)
	b = append(b, `","ts":`...)
	return strconv.AppendInt(b, ms, 10)
}

// publish sends one QoS 1 uplink on the modem's class topic.
func (m *rawModem) publish(c *rawmqtt.Conn, class string, payload []byte, retain bool, tag int64) error {
	id, err := c.Publish(m.prefix+class, payload, 1, retain, tag)
	if err == nil || id != 0 {
		m.f.sent.Add(1) // tracked: acknowledged now or resent after a reconnect
	}
	return err
}

func (m *rawModem) floodOne(c *rawmqtt.Conn) error {
	now := time.Now().UnixMilli()
	b := m.payload(96, "f", now)
	b = append(b, `,"code":"LOADTEST","time":`...)
	b = append(strconv.AppendInt(b, now, 10), '}')
	return m.publish(c, "evt", b, false, tagFlood)
}

// command answers a command request: accepted, then succeeded (or expired),
// remembering the last ids so that a resent request is answered, not re-run.
func (m *rawModem) command(c *rawmqtt.Conn, p rawmqtt.Packet) error {
	f := m.f
	f.cmdReceived.Add(1)
	if rest, ok := strings.CutPrefix(p.Topic, m.prefix); !ok || !strings.HasPrefix(rest, "cmd/req/") {
		f.noteError("unexpected_publish")
		return nil
	}
	// The fast scan reads id, ts and exp; the full protocol decoder (which
	// checks the whole request against the contract) runs when the scan
	// cannot read the request, and on the first and every fullCheckEvery-th
	// command of the fleet, so that a systematic contract error still shows
	// as bad_command without paying for reflection on every command.
	var req protocol.CommandRequest
	var ok bool
	req.ID, req.TS, req.Exp, ok = scanCommand(p.Payload)
	if !ok || !protocol.ValidID(req.ID) || f.cmdChecked.Add(1)%fullCheckEvery == 1 {
		full, err := protocol.DecodeCommandRequest(p.Payload)
		if err != nil {
			f.noteError("bad_command")
			return nil
		}
		req = full
	}
	m.mu.Lock()
	dup := false
	for _, id := range m.recent[:min(m.nrecent, len(m.recent))] {
		dup = dup || id == req.ID
	}
	if !dup {
		m.recent[m.nrecent%len(m.recent)] = req.ID
		m.nrecent++
	}
	m.mu.Unlock()
	topic := "cmd/res/" + req.ID
	now := time.Now().UnixMilli()
	result := func(status protocol.Status, code int, tag int64) error {
		// req.ID is a protocol id ([A-Za-z0-9_.:-]): no JSON escaping needed.
		b := m.payload(96+len(req.ID), "r", time.Now().UnixMilli())
		b = append(b, `,"cmd":"`...)
		b = append(b, req.ID...)
		b = append(b, `","status":"`...)
		b = append(b, status...)
		b = append(b, `","code":`...)
		b = append(strconv.AppendInt(b, int64(code), 10), '}')
		return m.publish(c, topic, b, false, tag)
	}
	switch {
	case dup:
		f.cmdDup.Add(1)
		return result(protocol.StatusSucceeded, protocol.CodeOK, tagPlain)
	case req.Exp <= now:
		f.cmdExpired.Add(1)
		return result(protocol.StatusExpired, protocol.CodeExpired, tagPlain)
	}
	if err := result(protocol.StatusAccepted, protocol.CodeOK, tagPlain); err != nil {
		return err
	}
	f.cmdAccepted.Add(1)
	f.cmdSucceeded.Add(1)
	return result(protocol.StatusSucceeded, protocol.CodeOK, max(req.TS, tagFlood+1))
}

// goodbye publishes the retained offline State and disconnects (not counted).
func (m *rawModem) goodbye() {
	m.mu.Lock()
	c := m.conn
	epoch := m.epoch
	m.mu.Unlock()
	if c == nil {
		return
	}
	_, _ = c.Publish(m.prefix+"state", fmt.Appendf(nil, `{"v":1,"id":"%s","ts":%d,"online":false,"epoch":%d,"reason":"shutdown"}`,
		m.id("s"), time.Now().UnixMilli(), epoch), 1, true, tagPlain)
	_ = c.Disconnect()
}

// Scheduled work.

type jobKind uint8

const (
	jobHB jobKind = iota
	jobEvent
	jobVend
	jobAudit
	jobPing
)

type job struct {
	at   time.Time
	m    *rawModem
	kind jobKind
}

type jobHeap []job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h jobHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)        { *h = append(*h, x.(job)) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	*h = old[:len(old)-1]
	return j
}

func (f *rawFleet) push(j job) {
	f.schedMu.Lock()
	heap.Push(&f.sched, j)
	f.schedMu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// perMinute is an exponential gap for a Poisson process of rate per minute.
func (m *rawModem) perMinute(rate float64) time.Duration {
	m.mu.Lock()
	u := float64(m.rand()>>11)/(1<<53) + 1e-12
	m.mu.Unlock()
	return time.Duration(-math.Log(u) / rate * float64(time.Minute))
}

func (f *rawFleet) scheduleModem(m *rawModem) {
	now := time.Now()
	hb := f.cfg.HBInterval
	m.mu.Lock()
	first := time.Duration(m.rand() % uint64(hb)) // spread heartbeats over the interval
	m.mu.Unlock()
	f.push(job{at: now.Add(first), m: m, kind: jobHB})
	f.push(job{at: now.Add(f.cfg.Keepalive / 2), m: m, kind: jobPing})
	for kind, rate := range map[jobKind]float64{jobEvent: f.cfg.EventRate, jobVend: f.cfg.VendRate, jobAudit: f.cfg.AuditRate} {
		if rate > 0 {
			f.push(job{at: now.Add(m.perMinute(rate)), m: m, kind: kind})
		}
	}
}

// schedule hands due jobs to the workers until ctx ends.
func (f *rawFleet) schedule(ctx context.Context, jobs chan<- job) {
	// The timer is moved only to an earlier time than it is set for (or set
	// again after it fired): moving a pending runtime timer marks it
	// modified, and once the earliest modified time is reached the runtime
	// scans every timer of its P. With a reset per wake-up (every push) and
	// ~40,000 timers of 19,000 connections that scan was 14 % of the fleet's
	// CPU in a reconnect storm.
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	armed := time.Now().Add(time.Hour)
	for {
		f.schedMu.Lock()
		var due []job
		now := time.Now()
		for len(f.sched) > 0 && !f.sched[0].at.After(now) && len(due) < 512 {
			due = append(due, heap.Pop(&f.sched).(job))
		}
		wait := 50 * time.Millisecond
		if len(f.sched) > 0 {
			wait = min(wait, time.Until(f.sched[0].at))
		}
		f.schedMu.Unlock()
		for _, j := range due {
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
		if len(due) > 0 {
			continue
		}
		if at := time.Now().Add(max(wait, time.Millisecond)); armed.IsZero() || at.Before(armed.Add(-time.Millisecond)) {
			t.Reset(time.Until(at))
			armed = at
		}
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-t.C:
			armed = time.Time{}
		}
	}
}

// do runs one job in a worker and schedules the next of its kind.
func (m *rawModem) do(j job) {
	f := m.f
	m.mu.Lock()
	c := m.conn
	epoch := m.epoch
	// Read with conn: a job that finds the modem not yet connected must not
	// count as "lost connection" because it connected a moment later.
	was := m.everConnected
	m.mu.Unlock()
	next := j
	now := time.Now()
	switch j.kind {
	case jobPing:
		next.at = now.Add(f.cfg.Keepalive / 2)
		if c != nil {
			_, _ = c.PingIfIdle(f.cfg.Keepalive / 2)
		}
		f.push(next)
		return
	case jobHB:
		next.at = j.at.Add(f.cfg.HBInterval)
	case jobEvent:
		next.at = now.Add(m.perMinute(f.cfg.EventRate))
	case jobVend:
		next.at = now.Add(m.perMinute(f.cfg.VendRate))
	case jobAudit:
		next.at = now.Add(m.perMinute(f.cfg.AuditRate))
	}
	f.push(next)
	if f.stopping.Load() {
		return
	}
	if c == nil {
		if was {
			f.noteError("skipped_offline") // lost connection: this uplink is not made
		}
		return
	}
	ms := now.UnixMilli()
	var err error
	switch j.kind {
	case jobHB:
		b := m.payload(128, "hb", ms)
		b = append(b, `,"uptime":`...)
		b = strconv.AppendInt(b, int64(now.Sub(m.booted)/time.Second), 10)
		b = append(b, `,"signal":21,"vm_link":true,"errors":0,"epoch":`...)
		b = append(strconv.AppendUint(b, epoch, 10), '}')
		err = m.publish(c, "tele/hb", b, false, tagPlain)
	case jobEvent:
		err = m.publish(c, "evt", fmt.Appendf(nil, `{"v":1,"id":"%s","ts":%d,"code":"LOADTEST","time":%d,"payload":{"n":%d}}`,
			m.id("e"), ms, ms, j.m.idx), false, tagPlain)
	case jobVend:
		err = m.publish(c, "vend", fmt.Appendf(nil, `{"v":1,"id":"%s","ts":%d,"sel":"12","price":5000,"payment":"cashless","type":"paid","ok":true,"time":%d}`,
			m.id("v"), ms, ms), false, tagPlain)
	case jobAudit:
		err = m.publish(c, "audit", fmt.Appendf(nil, `{"v":1,"id":"%s","ts":%d,"port":2,"time":%d,"data":%q}`,
			m.id("a"), ms, ms, auditText(m.imei)), false, tagPlain)
	}
	if err != nil {
		f.noteError(errKind("write", err))
	}
}

// auditText is a minimal EVA-DTS audit (DXS/ST/ID1/VA1/SE/DXE segments).
func auditText(serial string) string {
	return "DXS*VENDEMU0001*VA*V0/6*1\r\nST*001*0001\r\nID1*" + serial + "*LOADTEST\r\nVA1*0*0*0*0\r\nSE*4*0001\r\nDXE*1*1\r\n"
}
