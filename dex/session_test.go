package dex

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Transcript helpers: each step feeds one event and states what the session
// must send, which timer it must arm and whether it ends.
type step struct {
	ev    Event
	send  []byte
	timer Timer
	err   error // errors.Is target; nil: no error
	done  bool
	block string
	need  bool // NeedData, answered with provide
}

func fr(k FrameKind) Event  { return Event{Frame: Frame{Kind: k}} }
func hdr(text string) Event { return Event{Frame: Frame{Kind: FrameHeader, Text: []byte(text)}} }
func blk(text string, last bool) Event {
	return Event{Frame: Frame{Kind: FrameBlock, Text: []byte(text), Last: last}}
}
func badFr() Event { return Event{Frame: Frame{Kind: FrameBad, Err: &FrameError{Err: ErrBadCRC}}} }

var timeout = Event{Timeout: true}

const (
	readerID  = "RDR0000001"
	machineID = "VMD0000001"
)

var (
	readerReq  = AppendRequest(nil, Request{CommID: readerID, Op: OpRead, Level: 6})
	machineReq = AppendRequest(nil, Request{CommID: machineID, Op: OpSend, Revision: 1, Level: 1})
	readerResp = AppendResponse(nil, Response{Code: ResponseOK, CommID: readerID, Level: 6})
	okResp     = "00" + machineID + "R00L06"
)

func runTranscript(t *testing.T, s *Session, start step, steps []step, provide []byte) {
	t.Helper()
	out := s.Start()
	assert.Equal(t, string(start.send), string(out.Send), "start send")
	assert.Equal(t, start.timer, out.Timer, "start timer")
	if out.NeedData {
		require.NoError(t, s.Provide(provide, nil))
	}
	for i, st := range steps {
		out, err := s.Step(st.ev)
		if st.err != nil {
			require.ErrorIs(t, err, st.err, "step %d", i)
		} else {
			require.NoError(t, err, "step %d", i)
		}
		assert.Equal(t, string(st.send), string(out.Send), "step %d send", i)
		if st.err == nil {
			assert.Equal(t, st.timer, out.Timer, "step %d timer", i)
		}
		assert.Equal(t, st.done, out.Done, "step %d done", i)
		assert.Equal(t, st.block, string(out.Block), "step %d block", i)
		assert.Equal(t, st.need, out.NeedData, "step %d need data", i)
		if out.NeedData {
			require.NoError(t, s.Provide(provide, nil))
		}
	}
}

func TestSessionTranscripts(t *testing.T) {
	reader := SessionConfig{Role: RoleReader, CommID: readerID}
	tests := []struct {
		name    string
		cfg     SessionConfig
		start   step
		steps   []step
		provide []byte
		audit   string
	}{
		{
			name:  "reader, reader master, two blocks",
			cfg:   reader,
			start: step{send: seqENQ, timer: TimerA},
			steps: []step{
				{ev: fr(FrameACK0), send: readerReq, timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, timer: TimerENQ},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: hdr(okResp), send: seqACK1, timer: TimerD},
				{ev: fr(FrameEOT), timer: TimerENQ},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: blk("AB", false), send: seqACK1, timer: TimerD, block: "AB"},
				{ev: fr(FrameENQ), send: seqACK1, timer: TimerD}, // our ACK was lost: repeat it
				{ev: badFr(), send: seqNAK, timer: TimerD},
				{ev: blk("CD", true), send: seqACK0, timer: TimerD, block: "CD"},
				{ev: blk("CD", true), send: seqACK0, timer: TimerD}, // repeated instead of ENQ: not taken twice
				{ev: fr(FrameEOT), done: true},
			},
			audit: "ABCD",
		},
		{
			name:  "reader, machine master (both sent ENQ)",
			cfg:   reader,
			start: step{send: seqENQ, timer: TimerA},
			steps: []step{
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD}, // machine repeats ENQ: repeat answer
				{ev: hdr(string(machineReq[2 : len(machineReq)-4])), send: seqACK1, timer: TimerD},
				{ev: fr(FrameEOT), timer: TimerPause},
				{ev: fr(FrameENQ), timer: TimerKeep}, // ignored during our pause
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameACK0), send: readerResp, timer: TimerA},
				{ev: fr(FrameWACK), timer: TimerWACK},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, timer: TimerENQ},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: blk("X", true), send: seqACK1, timer: TimerD, block: "X"},
				{ev: fr(FrameEOT), done: true},
			},
			audit: "X",
		},
		{
			name:  "reader retransmits on NAK and on wrong ACK",
			cfg:   reader,
			start: step{send: seqENQ, timer: TimerA},
			steps: []step{
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameACK0), send: readerReq, timer: TimerA},
				{ev: fr(FrameNAK), send: readerReq, timer: TimerA},
				{ev: fr(FrameACK0), send: readerReq, timer: TimerA},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, timer: TimerENQ},
			},
		},
		{
			name:  "reader gives up: nobody answers",
			cfg:   reader,
			start: step{send: seqENQ, timer: TimerA},
			steps: []step{
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: timeout, send: seqEOT, err: ErrNoAnswer},
				{ev: fr(FrameACK0), err: ErrNoAnswer}, // over
			},
		},
		{
			name:  "reader: too many corrupt blocks",
			cfg:   SessionConfig{Role: RoleReader, CommID: readerID, Retries: 1},
			start: step{send: seqENQ, timer: TimerA},
			steps: []step{
				{ev: fr(FrameACK0), send: readerReq, timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, timer: TimerENQ},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: hdr(okResp), send: seqACK1, timer: TimerD},
				{ev: fr(FrameEOT), timer: TimerENQ},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: badFr(), send: seqNAK, timer: TimerD},
				{ev: fr(FrameENQ), send: seqNAK, timer: TimerD},
				{ev: badFr(), send: seqEOT, err: ErrCRC},
			},
		},
		{
			name:  "reader: refused comm ID",
			cfg:   reader,
			start: step{send: seqENQ, timer: TimerA},
			steps: []step{
				{ev: fr(FrameACK0), send: readerReq, timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, timer: TimerENQ},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: hdr("01" + machineID + "R00L06"), send: seqACK1, timer: TimerD},
				{ev: fr(FrameEOT), err: ErrCommID},
			},
		},
		{
			name:  "reader: malformed response",
			cfg:   reader,
			start: step{send: seqENQ, timer: TimerA},
			steps: []step{
				{ev: fr(FrameACK0), send: readerReq, timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, timer: TimerENQ},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: blk("x", true), send: seqNAK, timer: TimerD}, // a block where a header belongs
				{ev: hdr("garbage"), send: seqACK1, timer: TimerD},
				{ev: fr(FrameEOT), err: ErrProtocol},
			},
		},
		{
			name:  "reader: machine silent mid-transfer",
			cfg:   reader,
			start: step{send: seqENQ, timer: TimerA},
			steps: []step{
				{ev: fr(FrameACK0), send: readerReq, timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, timer: TimerENQ},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: hdr(okResp), send: seqACK1, timer: TimerD},
				{ev: fr(FrameEOT), timer: TimerENQ},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: fr(FrameACK1), timer: TimerKeep}, // stray, ignored
				{ev: timeout, err: ErrTimeout},
			},
		},
		{
			name:  "reader: machine aborts",
			cfg:   reader,
			start: step{send: seqENQ, timer: TimerA},
			steps: []step{
				{ev: fr(FrameACK0), send: readerReq, timer: TimerA},
				{ev: fr(FrameEOT), err: ErrAborted},
			},
		},
		{
			name:  "machine, reader master, busy once, refuses nothing",
			cfg:   SessionConfig{Role: RoleMachine, CommID: machineID, WACKs: 1, BlockSize: 4},
			start: step{timer: TimerNone},
			steps: []step{
				{ev: fr(FrameACK0), timer: TimerKeep}, // idle: ignore
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: hdr(string(readerReq[2 : len(readerReq)-4])), send: seqWACK, timer: TimerD},
				{ev: fr(FrameENQ), send: seqACK1, timer: TimerD},
				{ev: fr(FrameEOT), timer: TimerPause, need: true},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameACK0), send: AppendResponse(nil, Response{Code: ResponseOK, CommID: machineID, Level: 6}), timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, timer: TimerPause},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameACK0), send: AppendBlock(nil, []byte("AB"), false), timer: TimerA},
				{ev: fr(FrameACK1), send: AppendBlock(nil, []byte("C"), true), timer: TimerA},
				{ev: fr(FrameACK0), send: seqEOT, done: true},
			},
			provide: []byte("ABC"),
		},
		{
			name:  "machine as master repeats ENQ forever",
			cfg:   SessionConfig{Role: RoleMachine, CommID: machineID, MachineMaster: true, Revision: 1, Level: 1},
			start: step{timer: TimerPause},
			steps: []step{
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameENQ), timer: TimerKeep}, // the reader's ENQ: a master ignores it
				{ev: fr(FrameACK0), send: machineReq, timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, timer: TimerENQ},
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: hdr("00" + readerID + "R00L06"), send: seqACK1, timer: TimerD},
				{ev: fr(FrameEOT), timer: TimerPause},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameACK0), send: AppendBlock(nil, []byte("Z"), true), timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, done: true},
			},
			provide: []byte("Z"),
		},
		{
			name: "machine refuses unknown comm ID",
			cfg: SessionConfig{Role: RoleMachine, CommID: machineID,
				AcceptCommID: func(id string) bool { return id == "OTHER00000" }},
			start: step{timer: TimerNone},
			steps: []step{
				{ev: fr(FrameENQ), send: seqACK0, timer: TimerD},
				{ev: hdr(string(readerReq[2 : len(readerReq)-4])), send: seqACK1, timer: TimerD},
				{ev: fr(FrameEOT), timer: TimerPause, need: true},
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameACK0), send: AppendResponse(nil, Response{Code: ResponseUnknownCommID, CommID: machineID, Level: 6}), timer: TimerA},
				{ev: fr(FrameACK1), send: seqEOT, err: ErrCommID},
			},
		},
		{
			name:  "machine: reader keeps NAKing a block",
			cfg:   SessionConfig{Role: RoleMachine, CommID: machineID, MachineMaster: true, Retries: 1},
			start: step{timer: TimerPause},
			steps: []step{
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameACK0), send: AppendRequest(nil, Request{CommID: machineID, Op: OpSend, Level: 6}), timer: TimerA},
				{ev: fr(FrameNAK), send: AppendRequest(nil, Request{CommID: machineID, Op: OpSend, Level: 6}), timer: TimerA},
				{ev: fr(FrameNAK), send: seqEOT, err: ErrCRC},
			},
		},
		{
			name:  "machine: WACK limit",
			cfg:   SessionConfig{Role: RoleMachine, CommID: machineID, MachineMaster: true, MaxWACK: 1},
			start: step{timer: TimerPause},
			steps: []step{
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameACK0), send: AppendRequest(nil, Request{CommID: machineID, Op: OpSend, Level: 6}), timer: TimerA},
				{ev: fr(FrameWACK), timer: TimerWACK},
				{ev: fr(FrameACK1), timer: TimerKeep}, // ignored while waiting
				{ev: timeout, send: seqENQ, timer: TimerA},
				{ev: fr(FrameWACK), send: seqEOT, err: ErrTimeout},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSession(tt.cfg)
			runTranscript(t, s, tt.start, tt.steps, tt.provide)
			assert.Equal(t, tt.audit, string(s.Audit()))
		})
	}
}

func TestSessionMisuse(t *testing.T) {
	s := NewSession(SessionConfig{Role: RoleReader})
	_, err := s.Step(timeout)
	require.ErrorIs(t, err, ErrProtocol, "step before start")
	require.ErrorIs(t, s.Provide(nil, nil), ErrProtocol, "provide without request")

	m := NewSession(SessionConfig{Role: RoleMachine, MachineMaster: true})
	out := m.Start()
	require.True(t, out.NeedData)
	_, err = m.Step(timeout)
	require.ErrorIs(t, err, ErrProtocol, "step before provide")
	require.ErrorIs(t, m.Provide(nil, ErrNoData), ErrNoData, "machine master without data fails")
}

func TestSessionPeer(t *testing.T) {
	s := NewSession(SessionConfig{Role: RoleReader, CommID: readerID})
	s.Start()
	for _, ev := range []Event{fr(FrameENQ), hdr("CNV   DE32SR01L01"), fr(FrameEOT)} {
		_, err := s.Step(ev)
		require.NoError(t, err)
	}
	assert.Equal(t, Peer{CommID: "CNV   DE32", Op: OpSend, Revision: 1, Level: 1, VMDMaster: true}, s.Peer())
}

// FuzzSession: any sequence of events (decoded from arbitrary wire bytes,
// with timeouts) never panics either role, and a finished session stays
// finished.
func FuzzSession(f *testing.F) {
	f.Add([]byte{ENQ, DLE, '0', DLE, '1', EOT, 0xff}, uint8(0))
	f.Add(append([]byte{DLE, '0'}, AppendBlock(nil, []byte("x"), true)...), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		cfg := SessionConfig{Role: RoleReader, CommID: readerID}
		if mode%3 == 1 {
			cfg = SessionConfig{Role: RoleMachine, CommID: machineID, WACKs: int(mode % 4)}
		} else if mode%3 == 2 {
			cfg = SessionConfig{Role: RoleMachine, CommID: machineID, MachineMaster: true}
		}
		s := NewSession(cfg)
		if s.Start().NeedData {
			_ = s.Provide([]byte("DATA"), nil)
		}
		var d Decoder
		for i, b := range in {
			evs := []Event{}
			if b == 0xff || (mode&0x80 != 0 && i%7 == 0) {
				evs = append(evs, timeout)
			}
			for _, fr := range d.Feed([]byte{b}) {
				evs = append(evs, Event{Frame: fr})
			}
			for _, ev := range evs {
				out, err := s.Step(ev)
				if out.NeedData {
					_ = s.Provide(nil, nil)
				}
				if (err != nil || out.Done) && !s.finished {
					t.Fatalf("session ended (%v, done=%v) but is not finished", err, out.Done)
				}
			}
		}
	})
}
