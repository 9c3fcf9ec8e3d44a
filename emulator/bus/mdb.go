package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"vendgate/emulator/machine"
	"vendgate/mdb"
	"vendgate/mdb/cashless"
)

// Defaults for MDBConfig fields left zero.
const (
	// DefaultPollInterval is the VMC's poll interval: inside the 25–200 ms
	// window [MDB 4.2 §2.4.3], at the quick end so remote commands finish fast.
	DefaultPollInterval = 50 * time.Millisecond
	// DefaultSessionTimeout bounds a credit or dispense session when the
	// command gives no timeout.
	DefaultSessionTimeout = 60 * time.Second
	// DefaultStartTimeout is how long a grant waits for its session to open
	// (the VMC must be polling an enabled reader).
	DefaultStartTimeout = 10 * time.Second
	// DefaultBusyWait is how long a new operation waits for the previous
	// session to close (SESSION COMPLETE → END SESSION takes a poll or two).
	DefaultBusyWait = 2 * time.Second
	// settle is the extra time given to a session beyond its timeout: the
	// reader's SESSION CANCEL REQUEST and the VMC's SESSION COMPLETE need a
	// few polls.
	settle = 2 * time.Second
)

// inProcessLink is the link timing for the in-memory wire. The pipe delivers
// instantly; the spec's 5 ms t response [MDB 4.2 §3.1] is widened so a busy
// test machine (race detector, two cores) does not turn scheduling delays
// into NAKs.
var inProcessLink = mdb.Config{Response: 50 * time.Millisecond, InterByte: 20 * time.Millisecond, CharTime: time.Microsecond}

// MDBConfig tunes an MDB bus. Zero fields take the defaults.
type MDBConfig struct {
	// Address is the reader's cashless device number, 1 or 2; 0 means 1.
	Address int
	// Disabled starts the reader with remote payments off (cashless_mode 0).
	Disabled bool
	// Level is the reader's feature level 1–3; 0 means 3.
	Level byte
	// PollInterval is the VMC's poll interval (25–200 ms); 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// Think is how long the emulated customer takes to press a selection.
	Think time.Duration
	// RetryInit is the VMC's pause before retrying a failed init; 0 means 1 s.
	RetryInit time.Duration
	// Link is the link timing; zero fields take in-process values (50 ms
	// response time, not the spec's 5 ms).
	Link mdb.Config
	// SessionTimeout, StartTimeout, BusyWait: see the Default* constants.
	SessionTimeout, StartTimeout, BusyWait time.Duration
}

func (c MDBConfig) withDefaults() MDBConfig {
	if c.Address == 0 {
		c.Address = 1
	}
	if c.Level == 0 || c.Level > 3 {
		c.Level = 3
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Link.Response == 0 {
		c.Link.Response = inProcessLink.Response
	}
	if c.Link.InterByte == 0 {
		c.Link.InterByte = inProcessLink.InterByte
	}
	if c.Link.CharTime == 0 {
		c.Link.CharTime = inProcessLink.CharTime
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.BusyWait <= 0 {
		c.BusyWait = DefaultBusyWait
	}
	return c
}

// Errors of remote operations.
var (
	ErrNotRunning  = errors.New("bus: not running")
	ErrBusy        = errors.New("bus: another remote operation is running")
	ErrDisabled    = errors.New("bus: cashless payments are disabled")
	ErrNoSession   = errors.New("bus: the machine did not open a session (is the VMC polling the reader?)")
	ErrNoVend      = errors.New("bus: the session ended without a vend")
	ErrVendFailed  = errors.New("bus: the machine reported VEND FAILURE")
	ErrInterrupted = errors.New("bus: interrupted by a reset or address change")
	ErrNoInit      = errors.New("bus: the machine did not initialise the reader")
	ErrConfig      = errors.New("bus: invalid config")
)

// Vend is one vend of a remote operation, as the reader saw it.
type Vend struct {
	Selection int       // the VMC's item number (the machine's selection number)
	Price     int64     // minor currency units
	OK        bool      // VEND SUCCESS (false: VEND FAILURE)
	Time      time.Time // when the reader learned the outcome
}

// Result is what a remote operation produced.
type Result struct {
	Vends []Vend // in order, failed ones included
}

// OK counts the successful vends.
func (r Result) OK() int {
	n := 0
	for _, v := range r.Vends {
		if v.OK {
			n++
		}
	}
	return n
}

// Charged sums the prices of the successful vends.
func (r Result) Charged() int64 {
	var s int64
	for _, v := range r.Vends {
		if v.OK {
			s += v.Price
		}
	}
	return s
}

// CreditRequest is a remote cashless credit.
type CreditRequest struct {
	Amount      int64         // minor currency units, > 0
	AutoApprove bool          // the reader approves within the funds by itself
	Vends       int           // how many products the customer takes at most; 0 means 1
	Timeout     time.Duration // session timeout; 0 means MDBConfig.SessionTimeout
	OnVend      func(Vend)    // called for each vend as it happens (from the bus goroutine; must not block)
}

// Stats are the bus counters.
type Stats struct {
	Ops       int // remote operations started
	Unclaimed int // reader records that belonged to no operation
	Machine   machine.CashlessStats
	Reader    cashless.State
}

type opKind int

const (
	opCredit opKind = iota
	opDispense
)

// op is one remote operation in flight.
type op struct {
	kind    opKind
	sel     int
	amount  int64
	onVend  func(Vend)
	started chan struct{} // closed when the session opened
	done    chan struct{} // closed when the session ended or the op was interrupted

	// guarded by MDB.mu
	isStarted bool
	finished  bool
	err       error
	vends     []Vend
}

// MDB is an in-process MDB bus: the modem's cashless reader on one end of an
// mdb.Pipe, the machine's VMC on the other. Create with NewMDB, run with Run;
// the remote operations may be called from any goroutine while Run runs, one
// at a time (a second gets ErrBusy).
type MDB struct {
	cfg     MDBConfig
	reader  *cashless.Peripheral
	vmc     *machine.CashlessVMC
	perEnd  *mdb.PipeEnd
	records chan cashless.VendRecord

	mu      sync.Mutex
	running bool
	enabled bool
	op      *op
	st      Stats
}

// NewMDB builds the bus for machine m; it starts nothing.
func NewMDB(m *machine.Machine, cfg MDBConfig) (*MDB, error) {
	cfg = cfg.withDefaults()
	vmcEnd, perEnd := mdb.Pipe(mdb.PipeOptions{})
	b := &MDB{cfg: cfg, perEnd: perEnd, records: make(chan cashless.VendRecord, 64), enabled: !cfg.Disabled}
	r, err := cashless.NewPeripheral(cashless.PeripheralConfig{
		Address: cfg.Address,
		Reader: cashless.ReaderConfig{
			Level: cfg.Level,
			// RUB, scale 1, two decimals: scaled units are kopecks.
			Country: 0x1643, Scale: 1, Decimals: 2,
			Misc:    cashless.MiscMultivend,
			ID:      cashless.Identity{Manufacturer: "VGT", Serial: "000000000001", Model: "vendemu reader", Software: 0x0100},
			Options: cashless.Opt32Bit,
		},
		Records:       b.records,
		OnVendRequest: b.onVendRequest,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r.SetEnabled(b.enabled)
	b.reader = r
	v, err := m.NewCashlessVMC(mdb.NewMaster(vmcEnd, cfg.Link), machine.CashlessConfig{
		Address: cfg.Address, PollInterval: cfg.PollInterval, Think: cfg.Think, RetryInit: cfg.RetryInit,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	b.vmc = v
	return b, nil
}

// Reader returns the modem's cashless reader.
func (b *MDB) Reader() *cashless.Peripheral { return b.reader }

// VMC returns the machine's controller.
func (b *MDB) VMC() *machine.CashlessVMC { return b.vmc }

// Running reports whether Run is running.
func (b *MDB) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// Busy reports whether a remote operation is in flight.
func (b *MDB) Busy() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.op != nil
}

// Enabled reports whether remote payments are on.
func (b *MDB) Enabled() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.enabled
}

// Stats returns the counters.
func (b *MDB) Stats() Stats {
	b.mu.Lock()
	s := b.st
	b.mu.Unlock()
	s.Machine = b.vmc.Stats()
	s.Reader = b.reader.State()
	return s
}

// Run runs both ends of the bus until ctx ends (it then returns nil) or the
// reader's link fails.
func (b *MDB) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return fmt.Errorf("bus: already running")
	}
	b.running = true
	b.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var rerr error
	wg.Go(func() {
		link := &tap{PeripheralLink: mdb.NewPeripheral(b.perEnd, b.cfg.Link, b.reader.Complete), b: b}
		rerr = b.reader.Run(ctx, link)
		cancel()
	})
	wg.Go(func() { _ = b.vmc.Run(ctx) })
	wg.Wait()
	cancel()
	b.mu.Lock()
	b.running = false
	if b.op != nil {
		b.finishLocked(b.op, ErrNotRunning)
	}
	b.mu.Unlock()
	if rerr != nil && !errors.Is(rerr, context.Canceled) {
		return rerr
	}
	return nil
}

// SetEnabled switches remote payments on or off; off withdraws a credit in
// flight (its operation fails with ErrDisabled).
func (b *MDB) SetEnabled(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enabled = on
	b.reader.SetEnabled(on)
	if !on && b.op != nil {
		b.finishLocked(b.op, ErrDisabled)
	}
}

// SetAddress moves the reader to cashless device n (1 or 2), re-points the
// machine's VMC and waits (up to StartTimeout, or ctx) until the VMC has
// initialised the reader at the new address.
func (b *MDB) SetAddress(ctx context.Context, n int) error {
	if err := b.reader.SetAddress(n); err != nil {
		return err
	}
	_ = b.vmc.SetAddress(n) // same validation as the reader's
	b.mu.Lock()
	if b.op != nil {
		b.finishLocked(b.op, ErrInterrupted)
	}
	running := b.running
	b.mu.Unlock()
	if !running {
		return ErrNotRunning
	}
	return b.waitInit(ctx)
}

// waitInit waits until the reader is enabled by an initialised VMC.
func (b *MDB) waitInit(ctx context.Context) error {
	deadline := time.Now().Add(b.cfg.StartTimeout)
	for !(b.vmc.Ready() && b.reader.State() >= cashless.Enabled) {
		if time.Now().After(deadline) {
			return ErrNoInit
		}
		if !sleep(ctx, 5*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

// Reset resets the reader (JUST RESET; the VMC re-initialises it). An
// operation in flight fails with ErrInterrupted.
func (b *MDB) Reset() {
	b.reader.Reset()
	b.mu.Lock()
	if b.op != nil {
		b.finishLocked(b.op, ErrInterrupted)
	}
	b.mu.Unlock()
}

// Credit grants a cashless credit and waits until its session has ended. It
// fails with ErrNoVend when the customer bought nothing and ErrVendFailed
// when every approved vend failed; the Result lists the vends either way.
func (b *MDB) Credit(ctx context.Context, req CreditRequest) (Result, error) {
	if req.Amount <= 0 || req.Amount > 0xFFFFFFFE {
		return Result{}, fmt.Errorf("bus: credit %d out of range", req.Amount)
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = b.cfg.SessionTimeout
	}
	o := &op{kind: opCredit, amount: req.Amount, onVend: req.OnVend}
	visit := &machine.Visit{Vends: max(1, req.Vends)}
	return b.remote(ctx, o, visit, timeout, func() error {
		return b.reader.GrantCredit(uint32(req.Amount), req.AutoApprove, timeout)
	})
}

// Dispense pays for one vend of selection sel (the VMC's item number) and
// waits until its session has ended; the emulated customer is told to press
// sel. onVend (may be nil) is called for each vend as it happens.
func (b *MDB) Dispense(ctx context.Context, sel int, timeout time.Duration, onVend func(Vend)) (Result, error) {
	if sel < 0 || sel > 0xFFFE {
		return Result{}, fmt.Errorf("bus: selection %d out of range", sel)
	}
	if timeout <= 0 {
		timeout = b.cfg.SessionTimeout
	}
	o := &op{kind: opDispense, sel: sel, onVend: onVend}
	return b.remote(ctx, o, &machine.Visit{Selection: sel, Vends: 1}, timeout, func() error {
		return b.reader.Dispense(uint16(sel), timeout)
	})
}

func (b *MDB) remote(ctx context.Context, o *op, visit *machine.Visit, timeout time.Duration, place func() error) (Result, error) {
	o.started, o.done = make(chan struct{}), make(chan struct{})
	b.mu.Lock()
	if err := admit(b.running, b.enabled, b.op != nil); err != nil {
		b.mu.Unlock()
		return Result{}, err
	}
	b.op = o
	b.st.Ops++
	b.mu.Unlock()
	b.vmc.Expect(visit)
	defer func() {
		b.vmc.Expect(nil)
		b.mu.Lock()
		if b.op == o {
			b.op = nil
		}
		b.mu.Unlock()
	}()

	// The previous session may still be closing: retry for BusyWait.
	busyUntil := time.Now().Add(b.cfg.BusyWait)
	for {
		err := place()
		if err == nil {
			break
		}
		switch {
		case errors.Is(err, cashless.ErrBusy) && time.Now().Before(busyUntil):
			if !sleep(ctx, 10*time.Millisecond) {
				return Result{}, ctx.Err()
			}
			continue
		case errors.Is(err, cashless.ErrBusy):
			return Result{}, fmt.Errorf("%w: %w", ErrBusy, err)
		case errors.Is(err, cashless.ErrDisabled):
			return Result{}, fmt.Errorf("%w: %w", ErrDisabled, err)
		}
		return Result{}, err
	}

	start := time.NewTimer(b.cfg.StartTimeout)
	defer start.Stop()
	select {
	case <-o.started:
	case <-o.done:
	case <-start.C:
		b.withdraw(o, ErrNoSession)
	case <-ctx.Done():
		b.withdraw(o, ctx.Err())
	}
	end := time.NewTimer(timeout + settle)
	defer end.Stop()
	select {
	case <-o.done:
	case <-end.C:
		b.withdraw(o, nil)
	case <-ctx.Done():
		b.withdraw(o, ctx.Err())
	}
	<-o.done
	b.mu.Lock()
	res, err := Result{Vends: o.vends}, o.err
	b.mu.Unlock()
	return outcome(res, err)
}

// admit says whether a remote operation may start on a bus.
func admit(running, enabled, busy bool) error {
	switch {
	case !running:
		return ErrNotRunning
	case !enabled:
		return ErrDisabled
	case busy:
		return ErrBusy
	}
	return nil
}

// outcome is the result of a remote operation that ended with err (nil when
// it simply ran out): any successful vend makes it a success; otherwise err,
// or ErrVendFailed when vends were tried, or ErrNoVend.
func outcome(res Result, err error) (Result, error) {
	switch {
	case res.OK() > 0:
		return res, nil
	case err != nil:
		return res, err
	case len(res.Vends) > 0:
		return res, ErrVendFailed
	}
	return res, ErrNoVend
}

// withdraw takes back the grant of o (a reader cannot revoke a grant except by
// disabling payments, which also cancels an open session) and finishes o.
func (b *MDB) withdraw(o *op, why error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o.finished {
		return
	}
	b.reader.SetEnabled(false)
	b.reader.SetEnabled(b.enabled)
	b.finishLocked(o, why)
}

func (b *MDB) finishLocked(o *op, err error) {
	if o.finished {
		return
	}
	o.finished, o.err = true, err
	close(o.done)
}

// onVendRequest decides a vend request of a credit granted without
// auto-approve. The reader calls it with its lock held, so the answer goes
// from another goroutine. The emulated modem has no back end to ask; it
// approves what the credit still covers, as its host would.
//
// Lock order is b.mu before the reader's lock (SetEnabled, withdraw), so b.mu
// is taken only in the goroutine.
func (b *MDB) onVendRequest(price uint32, _ uint16) {
	go func() {
		b.mu.Lock()
		o := b.op
		ok := o != nil && !o.finished && o.kind == opCredit && int64(price) <= o.amount-Result{Vends: o.vends}.Charged()
		b.mu.Unlock()
		_ = b.reader.DecideVend(ok)
	}()
}

// afterStep runs in the reader's goroutine after each answer to a command
// addressed to it: it collects the reader's records and follows the session.
//
// A session has ended once the reader is back below Session Idle: END
// SESSION delivered after SESSION COMPLETE, or a RESET. Waiting for END
// SESSION (not just SESSION COMPLETE) leaves the reader free for the next
// operation.
func (b *MDB) afterStep() {
	for {
		select {
		case r := <-b.records:
			b.record(r)
			continue
		default:
		}
		break
	}
	after := b.reader.State()
	b.mu.Lock()
	o := b.op
	if o == nil || o.finished {
		b.mu.Unlock()
		return
	}
	if after >= cashless.SessionIdle && !o.isStarted {
		o.isStarted = true
		close(o.started)
	}
	if o.isStarted && after < cashless.SessionIdle {
		b.finishLocked(o, nil)
	}
	b.mu.Unlock()
}

// record attributes one reader record to the operation in flight.
func (b *MDB) record(r cashless.VendRecord) {
	b.mu.Lock()
	o := b.op
	if o == nil || o.finished || !r.Remote {
		b.st.Unclaimed++
		b.mu.Unlock()
		return
	}
	if r.Denied || r.Cancelled {
		b.mu.Unlock()
		return // no product moved: not a vend
	}
	// Scaled units are kopecks (scale 1, two decimals, see NewMDB).
	v := Vend{Selection: int(r.Selection), Price: int64(r.Price), OK: r.OK, Time: r.Time}
	o.vends = append(o.vends, v)
	b.mu.Unlock()
	if o.onVend != nil {
		o.onVend(v)
	}
}

// tap is the reader's link, watched: after each answer to a command for the
// reader the bus looks at the reader's records and state.
type tap struct {
	mdb.PeripheralLink
	b    *MDB
	ours bool
}

func (t *tap) Recv(ctx context.Context) (mdb.Frame, error) {
	f, err := t.PeripheralLink.Recv(ctx)
	t.ours = err == nil && len(f.Data) > 0 && mdb.AddressOf(f.Data[0]) == t.b.reader.Address()
	return f, err
}

func (t *tap) Reply(ctx context.Context, data []byte) error {
	err := t.PeripheralLink.Reply(ctx, data)
	if t.ours {
		t.b.afterStep()
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
