package cashless

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func drain(m *Machine) []Response {
	out := m.Step(Command{Code: CmdPoll})
	m.Delivered(true)
	return out.Reply
}

// machineIn builds a level-3 machine (always-idle off) in state s. In Vend the
// vend is approved and the approval delivered.
func machineIn(t *testing.T, s State) *Machine {
	t.Helper()
	m := NewMachine(ReaderConfig{Level: 3, Options: OptAlwaysIdle | Opt32Bit})
	drain(m)
	m.Step(Command{Code: CmdSetupConfig, VMCLevel: 3, Columns: 16, Rows: 2})
	if s == Inactive {
		return m
	}
	m.Step(Command{Code: CmdSetupPrices, MaxPrice: 500})
	if s == Disabled {
		return m
	}
	m.Step(Command{Code: CmdReaderEnable})
	if s == Enabled {
		return m
	}
	require.NoError(t, m.BeginSession(1000))
	require.Equal(t, RespBeginSession, drain(m)[0].Code)
	switch s {
	case Vend:
		m.Step(Command{Code: CmdVendRequest, Amount: 100, Item: 7})
		require.NoError(t, m.Approve(100))
		drain(m)
	case Revalue:
		m.Step(Command{Code: CmdRevalue, Amount: 100})
	case NegativeVend:
		m.Step(Command{Code: CmdNegativeVend, Amount: 100, Item: 7})
	}
	require.Equal(t, s, m.State())
	require.Empty(t, m.Pending())
	return m
}

var sampleCommands = map[CmdCode]Command{
	CmdReset: {Code: CmdReset}, CmdSetupConfig: {Code: CmdSetupConfig, VMCLevel: 3, Columns: 16, Rows: 2},
	CmdSetupPrices: {Code: CmdSetupPrices, MaxPrice: 500}, CmdPoll: {Code: CmdPoll},
	CmdVendRequest: {Code: CmdVendRequest, Amount: 150, Item: 3}, CmdVendCancel: {Code: CmdVendCancel},
	CmdVendSuccess: {Code: CmdVendSuccess, Item: 7}, CmdVendFailure: {Code: CmdVendFailure},
	CmdSessionComplete: {Code: CmdSessionComplete}, CmdCashSale: {Code: CmdCashSale, Amount: 50, Item: 2},
	CmdNegativeVend: {Code: CmdNegativeVend, Amount: 50, Item: 2}, CmdReaderDisable: {Code: CmdReaderDisable},
	CmdReaderEnable: {Code: CmdReaderEnable}, CmdReaderCancel: {Code: CmdReaderCancel},
	CmdDataEntry: {Code: CmdDataEntry, Data: []byte("12345678")}, CmdRevalue: {Code: CmdRevalue, Amount: 10},
	CmdRevalueLimit: {Code: CmdRevalueLimit}, CmdRequestID: {Code: CmdRequestID, ID: Identity{Manufacturer: "VGT"}},
	CmdReadUserFile: {Code: CmdReadUserFile, File: 1}, CmdWriteUserFile: {Code: CmdWriteUserFile, File: 1, Data: []byte{1, 2}},
	CmdWriteTimeDate: {Code: CmdWriteTimeDate, Data: []byte{0x26, 0x05, 0x01, 0x12, 0, 0, 5, 0x18, 1, 0}},
	CmdOptionEnable:  {Code: CmdOptionEnable, Options: OptAlwaysIdle},
	CmdFTLReqToRcv:   {Code: CmdFTLReqToRcv, Data: []byte{1, 2, 3, 4, 5}}, CmdFTLRetryDeny: {Code: CmdFTLRetryDeny, Data: []byte{1, 2, 3}},
	CmdFTLSendBlock: {Code: CmdFTLSendBlock, Data: []byte{1, 2}}, CmdFTLOkToSend: {Code: CmdFTLOkToSend, Data: []byte{1, 2}},
	CmdFTLReqToSend: {Code: CmdFTLReqToSend, Data: []byte{1, 2, 3, 4, 5, 6}}, CmdDiagnostics: {Code: CmdDiagnostics, Data: []byte{9}},
}

// stateTable is the expected outcome of every command in every state, in the
// order Inactive, Disabled, Enabled, SessionIdle, Vend, Revalue, NegativeVend
// [MDB 4.2 §7.2–7.4]. "A" = ACK and stay, "A>X" = ACK and go to X (first
// letter), "O" = ACK now and CMD OUT OF SEQUENCE on the next POLL, "hh" = that
// response code immediately.
var stateTable = map[CmdCode]string{
	CmdReset:           "A>I A>I A>I A>I A>I A>I A>I",
	CmdSetupConfig:     "01 01 01 O O O O",
	CmdSetupPrices:     "A>D A A O O O O",
	CmdPoll:            "A A A A A A A",
	CmdVendRequest:     "O O O A>V O O O",
	CmdVendCancel:      "O O A A A O O",
	CmdVendSuccess:     "O O O A A>S O O",
	CmdVendFailure:     "O O O A A>S O O",
	CmdSessionComplete: "O A A A O O O",
	CmdCashSale:        "O A A A O O O",
	CmdNegativeVend:    "O O O A>N O O O",
	CmdReaderDisable:   "A A A>D A A A A",
	CmdReaderEnable:    "O A>E A A A A A",
	CmdReaderCancel:    "O A 08 A A A A",
	CmdDataEntry:       "O A A A A A A",
	CmdRevalue:         "O O O A>R O O O",
	CmdRevalueLimit:    "O O 0F 0F O O O",
	CmdRequestID:       "09 09 09 O O O O",
	CmdReadUserFile:    "O 10 10 10 10 10 10",
	CmdWriteUserFile:   "O A A A A A A",
	CmdWriteTimeDate:   "A A A A A A A",
	CmdOptionEnable:    "A A A O O O O",
	CmdFTLReqToRcv:     "O A A A A A A",
	CmdFTLRetryDeny:    "O A A A A A A",
	CmdFTLSendBlock:    "O A A A A A A",
	CmdFTLOkToSend:     "O A A A A A A",
	CmdFTLReqToSend:    "O A A A A A A",
	CmdDiagnostics:     "A A A A A A A",
}

func stateLetter(s State) string {
	return map[State]string{Inactive: "I", Disabled: "D", Enabled: "E", SessionIdle: "S", Vend: "V", Revalue: "R", NegativeVend: "N"}[s]
}

func TestStateTableExhaustive(t *testing.T) {
	require.Len(t, stateTable, len(AllCommands))
	for _, code := range AllCommands {
		want := strings.Fields(stateTable[code])
		require.Len(t, want, len(AllStates), code.String())
		for i, s := range AllStates {
			t.Run(fmt.Sprintf("%v/%v", s, code), func(t *testing.T) {
				m := machineIn(t, s)
				cmd, ok := sampleCommands[code]
				require.True(t, ok)
				// Every sample is a valid wire command.
				b, err := cmd.Encode(0x10)
				require.NoError(t, err)
				_, err = DecodeCommand(b)
				require.NoError(t, err)

				out := m.Step(cmd)
				var got string
				switch {
				case len(out.Reply) > 0:
					got = fmt.Sprintf("%02X", byte(out.Reply[0].Code))
				case len(m.Pending()) > 0 && m.Pending()[0].Code == RespOutOfSequence:
					got = "O"
					assert.Equal(t, byte(s), m.Pending()[0].Detail, "OOS carries the state")
				default:
					got = "A"
				}
				if next := m.State(); next != s || code == CmdReset {
					got += ">" + stateLetter(next)
				}
				assert.Equal(t, want[i], got)
				if code == CmdReset {
					assert.Equal(t, []Response{{Code: RespJustReset}}, m.Pending())
				}
			})
		}
	}
}

func TestAlwaysIdleVend(t *testing.T) {
	m := machineIn(t, Enabled)
	m.Step(Command{Code: CmdOptionEnable, Options: OptAlwaysIdle})
	out := m.Step(Command{Code: CmdVendRequest, Amount: 60, Item: 11})
	require.Equal(t, Vend, m.State())
	require.Len(t, out.Events, 1)
	require.NoError(t, m.Deny())
	assert.Equal(t, []Response{{Code: RespVendDenied}}, drain(m))
	assert.Equal(t, Enabled, m.State(), "a denied always-idle vend returns to Enabled")
}

func TestVendCancelBeforeAnswer(t *testing.T) {
	m := machineIn(t, SessionIdle)
	m.Step(Command{Code: CmdVendRequest, Amount: 60, Item: 11})
	require.NoError(t, m.Approve(60)) // queued, not yet polled
	out := m.Step(Command{Code: CmdVendCancel})
	assert.Equal(t, []Response{{Code: RespVendDenied}}, out.Reply)
	require.Len(t, out.Events, 1)
	assert.True(t, out.Events[0].Cancelled)
	assert.Equal(t, SessionIdle, m.State())
	assert.Empty(t, m.Pending(), "the queued approval is withdrawn")
}

func TestVendRequestRepeatedIsIdempotent(t *testing.T) {
	m := machineIn(t, SessionIdle)
	out := m.Step(Command{Code: CmdVendRequest, Amount: 60, Item: 11})
	require.Len(t, out.Events, 1)
	out = m.Step(Command{Code: CmdVendRequest, Amount: 60, Item: 11})
	assert.Empty(t, out.Events, "the repeat is not a second request")
	assert.Empty(t, m.Pending())
}

func TestResetAfterApprovalCountsAsSuccess(t *testing.T) {
	m := machineIn(t, Vend)
	out := m.Step(Command{Code: CmdReset})
	require.NotEmpty(t, out.Events)
	assert.Equal(t, Event{Kind: EventVendResult, Amount: 100, Item: 7, OK: true}, out.Events[0])
}

func TestUndeliveredMessagesAreRepeated(t *testing.T) {
	m := machineIn(t, Enabled)
	require.NoError(t, m.BeginSession(500))
	out := m.Step(Command{Code: CmdPoll})
	require.Len(t, out.Reply, 1)
	m.Delivered(false) // VMC NAKed
	out = m.Step(Command{Code: CmdPoll})
	require.Len(t, out.Reply, 1)
	assert.Equal(t, RespBeginSession, out.Reply[0].Code)
	m.Delivered(true)
	assert.Empty(t, drain(m))
}

func TestDisableDuringSession(t *testing.T) {
	m := machineIn(t, SessionIdle)
	m.Step(Command{Code: CmdReaderDisable})
	assert.Equal(t, SessionIdle, m.State(), "the session completes first")
	m.Step(Command{Code: CmdSessionComplete})
	assert.Equal(t, []Response{{Code: RespEndSession}}, drain(m))
	assert.Equal(t, Disabled, m.State())
}

func TestLevel1Formats(t *testing.T) {
	m := NewMachine(ReaderConfig{Level: 1})
	drain(m)
	m.Step(Command{Code: CmdSetupConfig, VMCLevel: 3})
	assert.Equal(t, uint8(1), m.Mode().Level, "lowest common level")
	m.Step(Command{Code: CmdRevalue, Amount: 5})
	b, err := EncodeResponses(m.Mode(), drain(m)...)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x0B}, b, "level-1 CMD OUT OF SEQUENCE has no state byte")
}

func TestMultiMessagePacking(t *testing.T) {
	m := machineIn(t, SessionIdle)
	for range 20 {
		m.Malfunction(0x07)
	}
	out := m.Step(Command{Code: CmdPoll})
	b, err := EncodeResponses(m.Mode(), out.Reply...)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(b)+1, 36)
	assert.Len(t, out.Reply, 17)
	m.Delivered(true)
	assert.Len(t, m.Pending(), 3)
}
