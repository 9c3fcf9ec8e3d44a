package dex

import (
	"errors"
	"fmt"
)

// Role is the side of the DEX link a Session plays.
type Role uint8

// Roles.
const (
	// RoleReader is the data carrier (DC): handheld, route driver's reader or
	// telemetry modem. It receives the audit.
	RoleReader Role = iota + 1
	// RoleMachine is the vending machine device (VMD). It sends the audit.
	RoleMachine
)

// Timer names the timer a Session wants running; the driver maps it to a
// duration (Config) and turns its expiry into a timeout Event.
type Timer uint8

// Timers (EVA-DTS 6.2 §4.5.8).
const (
	TimerKeep  Timer = iota // leave the running timer as it is (the event was ignored)
	TimerNone               // no timer: wait for the peer indefinitely (idle machine)
	TimerA                  // response timer: we sent something and await the answer
	TimerD                  // inactivity timer: we await the peer's next frame inside an exchange
	TimerENQ                // we await the ENQ with which the peer opens its exchange
	TimerPause              // intersession pause before we open our exchange with ENQ
	TimerWACK               // the peer answered WACK: wait, then ENQ
)

// Event is what happened on the link: a decoded frame, or expiry of the timer
// the Session last asked for.
type Event struct {
	Timeout bool
	Frame   Frame
}

// Output is what the driver must do after a Step.
type Output struct {
	Send     []byte // wire bytes to send now (also when Step returns an error)
	Reply    bool   // Send answers a received frame: wait the response delay first
	Timer    Timer  // timer to arm from now
	Block    []byte // reader: text of a data block just accepted (for progress)
	NeedData bool   // machine: call Provide before the next Step
	Done     bool   // the session completed successfully
}

// SessionConfig parameterises a Session. Zero values take the defaults noted.
type SessionConfig struct {
	Role Role
	// MachineMaster makes a RoleMachine session master of the first handshake:
	// it opens with ENQ, repeated on every Timer A expiry until answered (as
	// coin mechanisms and pre-MDB controllers do, EVA-DTS 6.2 §4.5.1). A
	// RoleReader session detects this mode by itself.
	MachineMaster bool
	CommID        string // our communication ID (10 characters, §4.5.4)
	Revision      int    // our DEX revision (R00L06: 0)
	Level         int    // our DEX level (R00L06: 6); 0 means DefaultLevel
	Retries       int    // retransmissions of one frame or ENQ before giving up; 0 means 3
	MaxWACK       int    // WACKs accepted in a row for one frame; 0 means 10
	BlockSize     int    // machine: maximum block size on the wire (≤ MaxBlock); 0 means MaxBlock
	// AcceptCommID lets a machine refuse a reader (response code 01); nil
	// accepts every communication ID.
	AcceptCommID func(id string) bool
	// WACKs makes a machine answer the reader's first-handshake message with
	// this many WACKs before acknowledging it (emulates a busy machine).
	WACKs int
}

// Peer is what the other side told about itself in the handshakes.
type Peer struct {
	CommID    string // its communication ID
	Op        byte   // the operation it requested (first-handshake master only), else 0
	Revision  int
	Level     int
	VMDMaster bool // the machine was master of the first handshake
}

type sendState uint8

const (
	ssAwait sendState = iota // frame or ENQ in flight, awaiting its acknowledgement
	ssPause                  // waiting TimerPause, then ENQ
	ssWACK                   // waiting TimerWACK, then ENQ
)

type recvState uint8

const (
	rsWaitENQ   recvState = iota // waiting for the sender's ENQ
	rsWaitFrame                  // acknowledged ENQ or a frame, waiting for the next frame
	rsWaitEOT                    // got everything, waiting for EOT
)

// Session is the DEX/UCS session state machine (EVA-DTS 6.2 §4.5): first
// handshake, second handshake (roles reversed) and data transfer, for either
// role. It does no I/O and reads no clock: the driver feeds it Events and
// carries out its Outputs. A Session serves one session; make a new one for
// the next.
//
// Every exchange has the same shape: the sender opens with ENQ, the receiver
// answers DLE '0'; each frame is acknowledged alternately DLE '1', DLE '0', …;
// the sender closes with EOT. A receiver answers a corrupt frame with NAK and
// the sender repeats it; a sender that hears nothing within Timer A sends ENQ
// and the receiver repeats its last answer.
type Session struct {
	cfg      SessionConfig
	retries  int
	maxWACK  int
	master   bool // we are master of the first handshake
	phase    int  // 1 first handshake, 2 second handshake, 3 data
	sending  bool
	finished bool
	err      error

	// sender
	frames  [][]byte
	k       int // 0: our ENQ is in flight; k ≥ 1: frames[k-1] is in flight
	sstate  sendState
	tries   int
	wacks   int
	cause   error // why the last retry was needed
	forever bool  // repeat the opening ENQ without limit (machine as master)

	// receiver
	rstate   recvState
	n        int    // frames accepted in this exchange
	last     []byte // our last answer, repeated on ENQ
	bad      int    // consecutive corrupt frames
	header   []byte // handshake text received
	wackLeft int
	blocks   int

	// results
	audit    []byte
	peer     Peer
	reqOp    byte // machine: the operation the reader requested
	code     ResponseCode
	needData bool
	data     []byte
}

// NewSession returns a session for cfg; call Start first.
func NewSession(cfg SessionConfig) *Session {
	s := &Session{cfg: cfg, retries: cfg.Retries, maxWACK: cfg.MaxWACK}
	if s.retries <= 0 {
		s.retries = 3
	}
	if s.maxWACK <= 0 {
		s.maxWACK = 10
	}
	if s.cfg.Level == 0 && s.cfg.Revision == 0 {
		s.cfg.Level = DefaultLevel
	}
	s.master = cfg.Role == RoleReader || cfg.MachineMaster
	return s
}

// Start returns the session's first action: a reader sends ENQ; a machine
// waits for ENQ, or (MachineMaster) asks for its data and then sends ENQ.
func (s *Session) Start() Output {
	s.phase = 1
	switch {
	case s.cfg.Role == RoleReader:
		s.beginSend(s.firstRequest(OpRead))
		s.sstate = ssAwait
		return Output{Send: seqENQ, Timer: TimerA}
	case s.cfg.MachineMaster:
		s.needData = true
		s.forever = true
		s.beginSend(s.firstRequest(OpSend))
		return Output{NeedData: true, Timer: TimerPause}
	default:
		s.beginRecv()
		return Output{Timer: TimerNone}
	}
}

// Provide hands a machine session its audit (or the error that prevented
// reading it) after an Output with NeedData. A source error becomes response
// code 04 (ErrNoData) or 05 for the reader; as VMD master there is nobody to
// tell, so the session fails.
func (s *Session) Provide(data []byte, err error) error {
	if !s.needData {
		return fmt.Errorf("%w: provide without a data request", ErrProtocol)
	}
	s.needData = false
	if s.cfg.MachineMaster {
		if err != nil {
			return s.fail(fmt.Errorf("dex: machine data: %w", err))
		}
		s.data = data
		return nil
	}
	s.data = data
	switch {
	case s.cfg.AcceptCommID != nil && !s.cfg.AcceptCommID(s.peer.CommID):
		s.code = ResponseUnknownCommID
	case s.reqOp != OpRead:
		s.code = ResponseOpConflict
	case errors.Is(err, ErrNoData):
		s.code = ResponseNoData
	case err != nil:
		s.code = ResponseUndefinedError
	default:
		s.code = ResponseOK
	}
	s.beginSend([][]byte{AppendResponse(nil, Response{Code: s.code, CommID: s.cfg.CommID, Revision: s.cfg.Revision, Level: s.cfg.Level})})
	return nil
}

// Audit returns the data received so far (reader).
func (s *Session) Audit() []byte { return s.audit }

// Peer returns what the other side told about itself.
func (s *Session) Peer() Peer { return s.peer }

// Blocks returns the number of data blocks accepted (reader) or acknowledged
// (machine) so far.
func (s *Session) Blocks() int { return s.blocks }

// Err returns the error that ended the session, if any.
func (s *Session) Err() error { return s.err }

func (s *Session) firstRequest(op byte) [][]byte {
	return [][]byte{AppendRequest(nil, Request{CommID: s.cfg.CommID, Op: op, Revision: s.cfg.Revision, Level: s.cfg.Level})}
}

func (s *Session) beginSend(frames [][]byte) {
	s.sending, s.frames, s.k, s.sstate, s.tries, s.wacks = true, frames, 0, ssPause, 0, 0
}

func (s *Session) beginRecv() {
	s.sending, s.rstate, s.n, s.bad, s.header, s.last = false, rsWaitENQ, 0, 0, nil, nil
}

func (s *Session) fail(err error) error {
	s.finished, s.err = true, err
	return err
}

// Step advances the session by one event. After an error the session is
// over; Output.Send may still hold an EOT to send.
func (s *Session) Step(ev Event) (Output, error) {
	switch {
	case s.finished && s.err != nil:
		return Output{}, s.err
	case s.finished:
		return Output{Done: true}, nil
	case s.needData:
		return Output{}, fmt.Errorf("%w: step before provide", ErrProtocol)
	case s.phase == 0:
		return Output{}, fmt.Errorf("%w: step before start", ErrProtocol)
	}
	if s.sending {
		return s.stepSend(ev)
	}
	return s.stepRecv(ev)
}

func (s *Session) what() string {
	switch s.phase {
	case 1:
		return "first handshake"
	case 2:
		return "second handshake"
	}
	if s.k > 0 {
		return fmt.Sprintf("data block %d", s.k)
	}
	return "data transfer"
}

// retry counts one more attempt for the frame in flight and fails when the
// limit is spent. The opening ENQ of a machine acting as master is repeated
// forever (real coin mechanisms do, about once a second).
func (s *Session) retry(cause error) error {
	s.tries++
	s.cause = cause
	if s.forever && s.k == 0 && s.phase == 1 {
		return nil
	}
	if s.tries > s.retries {
		if s.k == 0 && s.phase == 1 && cause == ErrTimeout {
			cause = ErrNoAnswer
		}
		return s.fail(fmt.Errorf("%w: %s: %d attempts", cause, s.what(), s.tries))
	}
	return nil
}

func (s *Session) inFlight() []byte {
	if s.k == 0 {
		return seqENQ
	}
	return s.frames[s.k-1]
}

func (s *Session) stepSend(ev Event) (Output, error) {
	if s.sstate != ssAwait {
		if !ev.Timeout {
			return Output{Timer: TimerKeep}, nil // wait out the pause, whatever the peer says
		}
		s.sstate = ssAwait
		return Output{Send: seqENQ, Timer: TimerA}, nil
	}
	if ev.Timeout {
		if err := s.retry(ErrTimeout); err != nil {
			return Output{Send: seqEOT}, err
		}
		return Output{Send: seqENQ, Timer: TimerA}, nil
	}
	switch f := ev.Frame; f.Kind {
	case FrameACK0, FrameACK1:
		want := FrameACK0
		if ackFor(s.k) == ACK1 {
			want = FrameACK1
		}
		if f.Kind != want {
			// The peer repeated its answer to the previous frame: it did not
			// get the one in flight. Send it again.
			if err := s.retry(ErrProtocol); err != nil {
				return Output{Send: seqEOT}, err
			}
			return Output{Send: s.inFlight(), Reply: true, Timer: TimerA}, nil
		}
		if s.phase == 3 && s.k > 0 {
			s.blocks++
		}
		s.k, s.tries, s.wacks = s.k+1, 0, 0
		if s.k <= len(s.frames) {
			return Output{Send: s.frames[s.k-1], Reply: true, Timer: TimerA}, nil
		}
		return s.endExchange(Output{Send: seqEOT, Reply: true})
	case FrameNAK:
		cause := ErrCRC
		if s.k == 0 {
			cause = ErrTimeout // not ready: same as no answer
		}
		if err := s.retry(cause); err != nil {
			return Output{Send: seqEOT}, err
		}
		return Output{Send: s.inFlight(), Reply: true, Timer: TimerA}, nil
	case FrameWACK:
		s.wacks++
		if s.wacks > s.maxWACK {
			return Output{Send: seqEOT}, s.fail(fmt.Errorf("%w: %s: peer sent %d WACKs", ErrTimeout, s.what(), s.wacks))
		}
		s.sstate = ssWACK
		return Output{Timer: TimerWACK}, nil
	case FrameENQ:
		if s.k == 0 && s.phase == 1 && s.cfg.Role == RoleReader {
			// Both sent ENQ: the machine is master of the first handshake
			// (§4.5.1). The reader becomes slave and answers at once.
			s.master = false
			s.peer.VMDMaster = true
			s.beginRecv()
			s.rstate, s.last = rsWaitFrame, seqACK0
			return Output{Send: seqACK0, Reply: true, Timer: TimerD}, nil
		}
		return Output{Timer: TimerKeep}, nil // a master ignores the slave's ENQ
	case FrameEOT:
		return Output{}, s.fail(fmt.Errorf("%w: during %s", ErrAborted, s.what()))
	}
	return Output{Timer: TimerKeep}, nil
}

func (s *Session) stepRecv(ev Event) (Output, error) {
	if ev.Timeout {
		what, why := s.what(), "peer silent"
		if s.phase == 3 {
			what = fmt.Sprintf("data block %d", s.n+1)
		}
		if s.rstate == rsWaitENQ {
			why = "peer did not start its exchange"
		}
		return Output{}, s.fail(fmt.Errorf("%w: %s: %s", ErrTimeout, what, why))
	}
	f := ev.Frame
	if s.rstate == rsWaitENQ {
		if f.Kind != FrameENQ {
			return Output{Timer: TimerKeep}, nil
		}
		s.rstate, s.n, s.last = rsWaitFrame, 0, seqACK0
		return Output{Send: seqACK0, Reply: true, Timer: TimerD}, nil
	}
	switch f.Kind {
	case FrameENQ:
		if s.wackLeft > 0 {
			s.wackLeft--
			return Output{Send: seqWACK, Reply: true, Timer: TimerD}, nil
		}
		return Output{Send: s.last, Reply: true, Timer: TimerD}, nil
	case FrameHeader, FrameBlock:
		wantKind := FrameBlock
		if s.phase < 3 {
			wantKind = FrameHeader
		}
		if s.rstate == rsWaitEOT {
			// The sender repeated a frame instead of asking with ENQ: it
			// missed our answer. Answer again without accepting it twice.
			return Output{Send: s.last, Reply: true, Timer: TimerD}, nil
		}
		if f.Kind != wantKind {
			return s.badFrame(fmt.Errorf("%w: %s during %s", ErrProtocol, f.Kind, s.what()))
		}
		s.n++
		s.bad = 0
		s.last = []byte{DLE, ackFor(s.n)}
		out := Output{Send: s.last, Reply: true, Timer: TimerD}
		if f.Kind == FrameHeader {
			s.header = clone(f.Text)
			s.rstate = rsWaitEOT
			if s.cfg.Role == RoleMachine && s.phase == 1 && s.cfg.WACKs > 0 {
				// Busy machine: WACK now and on the next WACKs-1 ENQs, then ACK.
				s.wackLeft = s.cfg.WACKs - 1
				out.Send = seqWACK
			}
		} else {
			s.audit = append(s.audit, f.Text...)
			s.blocks++
			out.Block = f.Text
			if f.Last {
				s.rstate = rsWaitEOT
			}
		}
		return out, nil
	case FrameBad:
		return s.badFrame(f.Err)
	case FrameEOT:
		if s.rstate == rsWaitEOT {
			return s.endExchange(Output{})
		}
		return Output{}, s.fail(fmt.Errorf("%w: %s: before the last frame", ErrAborted, s.what()))
	}
	return Output{Timer: TimerKeep}, nil
}

func (s *Session) badFrame(cause error) (Output, error) {
	s.bad++
	if s.bad > s.retries {
		return Output{Send: seqEOT}, s.fail(fmt.Errorf("%w: %s: %d corrupt frames in a row (last: %w)", ErrCRC, s.what(), s.bad, cause))
	}
	s.last = seqNAK
	return Output{Send: seqNAK, Reply: true, Timer: TimerD}, nil
}

// endExchange closes the current exchange (out carries our EOT if we were
// the sender) and sets up the next one.
func (s *Session) endExchange(out Output) (Output, error) {
	if !s.sending {
		if err := s.absorbHeader(); err != nil {
			return out, s.fail(err)
		}
	}
	if s.phase == 2 && s.cfg.Role == RoleMachine && !s.cfg.MachineMaster && s.code != ResponseOK {
		// We told the reader no: the session ends here.
		return out, s.fail(fmt.Errorf("%w (second handshake)", &ResponseError{Code: s.code}))
	}
	if s.phase == 3 {
		s.finished = true
		out.Done = true
		return out, nil
	}
	s.phase++
	// Who sends next: the second handshake reverses the first; the machine
	// sends the data.
	sendNext := (s.phase == 2 && !s.master) || (s.phase == 3 && s.cfg.Role == RoleMachine)
	if !sendNext {
		s.beginRecv()
		out.Timer = TimerENQ
		return out, nil
	}
	switch {
	case s.phase == 2 && s.cfg.Role == RoleReader:
		s.beginSend([][]byte{AppendResponse(nil, Response{Code: ResponseOK, CommID: s.cfg.CommID, Revision: s.cfg.Revision, Level: s.cfg.Level})})
	case s.phase == 2: // machine, reader was master: ask for the data, then answer
		s.needData = true
		out.NeedData = true
	case s.phase == 3:
		var frames [][]byte
		texts := SplitBlocks(s.data, s.cfg.BlockSize)
		for i, t := range texts {
			frames = append(frames, AppendBlock(nil, t, i == len(texts)-1))
		}
		s.beginSend(frames)
	}
	s.sstate = ssPause
	out.Timer = TimerPause
	return out, nil
}

// absorbHeader interprets the handshake message just received.
func (s *Session) absorbHeader() error {
	switch {
	case s.phase == 1: // the other side was master and told us who it is
		req, err := ParseRequest(s.header)
		if err != nil {
			return fmt.Errorf("%w (first handshake)", err)
		}
		s.peer = Peer{CommID: req.CommID, Op: req.Op, Revision: req.Revision, Level: req.Level, VMDMaster: s.cfg.Role == RoleReader}
		s.reqOp = req.Op
	case s.phase == 2:
		resp, err := ParseResponse(s.header)
		if err != nil {
			return fmt.Errorf("%w (second handshake)", err)
		}
		s.peer.CommID, s.peer.Revision, s.peer.Level = resp.CommID, resp.Revision, resp.Level
		if resp.Code != ResponseOK {
			return fmt.Errorf("%w (second handshake)", &ResponseError{Code: resp.Code})
		}
	}
	return nil
}
