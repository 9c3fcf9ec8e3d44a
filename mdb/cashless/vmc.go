package cashless

import (
	"context"
	"errors"
	"fmt"
	"time"

	"vendgate/mdb"
)

// VMC errors.
var (
	// ErrNoAnswer means the reader did not produce the expected message
	// within the non-response time.
	ErrNoAnswer = errors.New("cashless: reader did not answer in time")
	// ErrNoSession means a vend was attempted without a session (and without
	// always-idle).
	ErrNoSession = errors.New("cashless: no session")
	// ErrReset means the reader reset (JUST RESET) or reported CMD OUT OF
	// SEQUENCE during an operation; the VMC must run Init again.
	ErrReset = errors.New("cashless: reader needs initialisation")
)

// VMCConfig configures the VMC-side driver.
type VMCConfig struct {
	Address int  // cashless device number 1 or 2; 0 means 1
	Level   byte // VMC feature level 1–3; 0 means 3
	// Display reported in SETUP CONFIG: columns, rows, type (0 numeric, 1 ASCII).
	Columns, Rows, DisplayType byte
	// MaxPrice and MinPrice for SETUP PRICES; zero MaxPrice means FFFF (unknown).
	MaxPrice, MinPrice uint32
	Currency           uint16 // for the expanded SETUP PRICES; 0 means the reader's
	ID                 Identity
	// Options are the level-3 options the VMC supports; it enables those the
	// reader offers too.
	Options uint32
	// PollInterval is the time between POLLs: 25–200 ms [MDB 4.2 §2.4.3];
	// 0 means 100 ms.
	PollInterval time.Duration
	// Retries is how often a command is repeated after silence, NAK or a bad
	// CHK before giving up; 0 means 3.
	Retries int
	// NonResponse bounds waits for an answer that comes via POLL; 0 means
	// 5 s [MDB 4.2 §7.5] (the reader's max response time wins when larger).
	NonResponse time.Duration
}

// VendOutcome is the result of VMC.Vend.
type VendOutcome struct {
	Approved bool
	Amount   uint32 // amount approved
}

// VMC drives a cashless reader as a vending machine controller would: the
// init sequence, polling, vend sessions. It is a test and emulator driver. It
// is not safe for concurrent use: run one operation at a time.
type VMC struct {
	link mdb.MasterLink
	cfg  VMCConfig
	addr mdb.Address
	mode Mode

	reader     Response // READER CONFIG
	peripheral Response // PERIPHERAL ID
	options    uint32   // enabled

	session       bool
	funds         uint32
	cancelRequest bool
	needInit      bool
	seen          []Response // every message received, for inspection
}

// NewVMC returns a VMC driver over link.
func NewVMC(link mdb.MasterLink, cfg VMCConfig) (*VMC, error) {
	if cfg.Address == 0 {
		cfg.Address = 1
	}
	a, err := addressOf(cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Level == 0 || cfg.Level > 3 {
		cfg.Level = 3
	}
	if cfg.MaxPrice == 0 {
		cfg.MaxPrice = 0xFFFF
	}
	switch {
	case cfg.PollInterval == 0:
		cfg.PollInterval = 100 * time.Millisecond
	case cfg.PollInterval < 25*time.Millisecond || cfg.PollInterval > 200*time.Millisecond:
		return nil, fmt.Errorf("cashless: poll interval %v outside 25–200 ms", cfg.PollInterval)
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 3
	}
	if cfg.NonResponse <= 0 {
		cfg.NonResponse = mdb.DefaultNonResponse
	}
	return &VMC{link: link, cfg: cfg, addr: a, mode: Mode{Level: 1}, needInit: true}, nil
}

// Mode returns the negotiated mode.
func (v *VMC) Mode() Mode { return v.mode }

// ReaderConfig returns the READER CONFIG received during Init.
func (v *VMC) ReaderConfig() Response { return v.reader }

// PeripheralID returns the PERIPHERAL ID received during Init.
func (v *VMC) PeripheralID() Response { return v.peripheral }

// Options returns the level-3 options enabled.
func (v *VMC) Options() uint32 { return v.options }

// Session reports whether a session is open and its funds.
func (v *VMC) Session() (funds uint32, open bool) { return v.funds, v.session }

// NeedsInit reports whether the reader announced JUST RESET or was out of
// sequence since the last Init.
func (v *VMC) NeedsInit() bool { return v.needInit }

// Seen returns every reader message received so far, oldest first.
func (v *VMC) Seen() []Response { return append([]Response(nil), v.seen...) }

// SetAddress points the driver at cashless #1 or #2; run Init afterwards.
func (v *VMC) SetAddress(n int) error {
	a, err := addressOf(n)
	if err != nil {
		return err
	}
	v.addr, v.needInit = a, true
	return nil
}

// Send sends one command (repeating it after silence, NAK or a bad CHK) and
// returns the reader's messages; nil for ACK.
func (v *VMC) Send(ctx context.Context, c Command) ([]Response, error) {
	c.Expanded = c.Expanded || v.mode.Expanded && v.mode.Level >= 3
	req, err := c.Encode(v.addr)
	if err != nil {
		return nil, err
	}
	var last error
	for try := 0; try <= v.cfg.Retries; try++ {
		resp, err := v.link.Transact(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			last = err
			continue
		}
		if len(resp) == 0 {
			return nil, nil
		}
		rs, err := DecodeResponses(resp, v.mode)
		for _, r := range rs {
			v.observe(r)
		}
		return rs, err
	}
	return nil, fmt.Errorf("cashless: %v: %w", c.Code, last)
}

func (v *VMC) observe(r Response) {
	v.seen = append(v.seen, r)
	switch r.Code {
	case RespJustReset, RespOutOfSequence:
		v.needInit, v.session = true, false
	case RespBeginSession:
		v.session, v.funds = true, r.Amount
	case RespEndSession:
		v.session, v.cancelRequest = false, false
	case RespSessionCancel:
		v.cancelRequest = true
	}
}

// Poll sends one POLL and returns the messages.
func (v *VMC) Poll(ctx context.Context) ([]Response, error) {
	return v.Send(ctx, Command{Code: CmdPoll})
}

// sleep waits one poll interval.
func (v *VMC) sleep(ctx context.Context) error {
	t := time.NewTimer(v.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func find(rs []Response, codes ...RespCode) (Response, bool) {
	for _, r := range rs {
		for _, c := range codes {
			if r.Code == c {
				return r, true
			}
		}
	}
	return Response{}, false
}

// PollFor polls until one of codes arrives (also looking at first, the
// answer already received) or the non-response time passes.
func (v *VMC) PollFor(ctx context.Context, first []Response, codes ...RespCode) (Response, error) {
	if r, ok := find(first, codes...); ok {
		return r, nil
	}
	wait := v.cfg.NonResponse
	if d := time.Duration(v.reader.MaxResponse) * time.Second; d > wait {
		wait = d
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if err := v.sleep(ctx); err != nil {
			return Response{}, err
		}
		rs, err := v.Poll(ctx)
		if err != nil && ctx.Err() != nil {
			return Response{}, err
		}
		if r, ok := find(rs, codes...); ok {
			return r, nil
		}
		if _, bad := find(rs, RespOutOfSequence); bad {
			return Response{}, ErrReset
		}
	}
	return Response{}, fmt.Errorf("%w: waiting for %v", ErrNoAnswer, codes)
}

// Init runs the init sequence [MDB 4.2 §7.4.1]: RESET, POLL until JUST
// RESET, SETUP CONFIG (READER CONFIG), SETUP PRICES, EXPANSION REQUEST ID
// (PERIPHERAL ID), at level 3 OPTIONAL FEATURE ENABLED (and SETUP PRICES again
// in expanded form if that turned expanded currency on), READER ENABLE.
func (v *VMC) Init(ctx context.Context) error {
	v.mode, v.options, v.session, v.cancelRequest = Mode{Level: 1}, 0, false, false
	if _, err := v.Send(ctx, Command{Code: CmdReset}); err != nil {
		return err
	}
	if _, err := v.PollFor(ctx, nil, RespJustReset); err != nil {
		return err
	}
	rs, err := v.Send(ctx, Command{Code: CmdSetupConfig, VMCLevel: v.cfg.Level, Columns: v.cfg.Columns, Rows: v.cfg.Rows, DisplayType: v.cfg.DisplayType})
	if err != nil {
		return err
	}
	if v.reader, err = v.PollFor(ctx, rs, RespReaderConfig); err != nil {
		return err
	}
	v.mode.Level = min(v.cfg.Level, max(v.reader.Level, 1))
	v.mode.DisplaySize = int(v.cfg.Columns) * int(v.cfg.Rows)
	if _, err := v.Send(ctx, Command{Code: CmdSetupPrices, MaxPrice: v.cfg.MaxPrice, MinPrice: v.cfg.MinPrice}); err != nil {
		return err
	}
	if rs, err = v.Send(ctx, Command{Code: CmdRequestID, ID: v.cfg.ID}); err != nil {
		return err
	}
	if v.peripheral, err = v.PollFor(ctx, rs, RespPeripheralID); err != nil {
		return err
	}
	if v.mode.Level >= 3 {
		v.options = v.cfg.Options & v.peripheral.Options
		if _, err := v.Send(ctx, Command{Code: CmdOptionEnable, Options: v.options}); err != nil {
			return err
		}
		if Expanded(v.options) {
			v.mode.Expanded = true
			cur := v.cfg.Currency
			if cur == 0 {
				cur = v.reader.Country
			}
			max := v.cfg.MaxPrice
			if max == 0xFFFF {
				max = 0xFFFFFFFF
			}
			if _, err := v.Send(ctx, Command{Code: CmdSetupPrices, MaxPrice: max, MinPrice: v.cfg.MinPrice, Currency: cur}); err != nil {
				return err
			}
		}
	}
	if _, err := v.Send(ctx, Command{Code: CmdReaderEnable}); err != nil {
		return err
	}
	v.needInit = false
	return nil
}

// Enable sends READER ENABLE or READER DISABLE.
func (v *VMC) Enable(ctx context.Context, on bool) error {
	c := CmdReaderDisable
	if on {
		c = CmdReaderEnable
	}
	_, err := v.Send(ctx, Command{Code: c})
	return err
}

// WaitSession polls until the reader opens a session (BEGIN SESSION) and
// returns its funds.
func (v *VMC) WaitSession(ctx context.Context) (uint32, error) {
	if v.session {
		return v.funds, nil
	}
	r, err := v.PollFor(ctx, nil, RespBeginSession)
	if err != nil {
		return 0, err
	}
	return r.Amount, nil
}

// Vend runs one vend [MDB 4.2 §7.7 #1]: VEND REQUEST (repeated until
// acknowledged), POLL until VEND APPROVED or VEND DENIED, then VEND SUCCESS
// (dispensed) or VEND FAILURE. A session must be open unless always-idle is
// enabled. The session stays open; end it with EndSession.
func (v *VMC) Vend(ctx context.Context, price uint32, item uint16, dispensed bool) (VendOutcome, error) {
	if !v.session && v.options&OptAlwaysIdle == 0 {
		return VendOutcome{}, ErrNoSession
	}
	rs, err := v.Send(ctx, Command{Code: CmdVendRequest, Amount: price, Item: item})
	if err != nil {
		return VendOutcome{}, err
	}
	r, err := v.PollFor(ctx, rs, RespVendApproved, RespVendDenied)
	if err != nil {
		return VendOutcome{}, err
	}
	if r.Code == RespVendDenied {
		return VendOutcome{}, nil
	}
	if dispensed {
		_, err = v.Send(ctx, Command{Code: CmdVendSuccess, Item: item})
	} else {
		_, err = v.Send(ctx, Command{Code: CmdVendFailure})
	}
	return VendOutcome{Approved: true, Amount: r.Amount}, err
}

// CashSale reports a vend paid in cash.
func (v *VMC) CashSale(ctx context.Context, price uint32, item uint16) error {
	_, err := v.Send(ctx, Command{Code: CmdCashSale, Amount: price, Item: item, Currency: v.reader.Country})
	return err
}

// EndSession sends SESSION COMPLETE and polls until END SESSION.
func (v *VMC) EndSession(ctx context.Context) error {
	rs, err := v.Send(ctx, Command{Code: CmdSessionComplete})
	if err != nil {
		return err
	}
	_, err = v.PollFor(ctx, rs, RespEndSession)
	return err
}

// Run polls every PollInterval until ctx ends, passing every message to on
// (which may be nil). It re-runs Init after JUST RESET or CMD OUT OF SEQUENCE
// (and, while the reader is silent, every 10 s [MDB 4.2 §2.4.3]) and answers
// SESSION CANCEL REQUEST with SESSION COMPLETE.
func (v *VMC) Run(ctx context.Context, on func(Response)) error {
	var lastInit time.Time
	for {
		if v.needInit && (lastInit.IsZero() || time.Since(lastInit) >= mdb.DefaultOfflineReset) {
			lastInit = time.Now()
			if err := v.Init(ctx); err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		if !v.needInit {
			rs, err := v.Poll(ctx)
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			for _, r := range rs {
				if on != nil {
					on(r)
				}
			}
			if v.cancelRequest {
				v.cancelRequest = false
				if _, err := v.Send(ctx, Command{Code: CmdSessionComplete}); err != nil && ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		if err := v.sleep(ctx); err != nil {
			return err
		}
	}
}
