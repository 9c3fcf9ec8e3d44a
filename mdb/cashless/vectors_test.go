package cashless

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/mdb"
)

func vectorDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root not found")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "testdata", "mdb")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("MDB vectors not available at %s (shared test data absent): %v", d, err)
	}
	return d
}

// vectorRows returns the "|"-separated rows of a vector file (comments skipped).
func vectorRows(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(vectorDir(t), name))
	require.NoError(t, err)
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.Contains(line, "|") {
			continue
		}
		cols := strings.Split(line, "|")
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		rows = append(rows, cols)
	}
	require.NoError(t, sc.Err())
	return rows
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	ws, err := mdb.ParseWords(s)
	require.NoError(t, err, s)
	b := make([]byte, len(ws))
	for i, w := range ws {
		b[i] = w.Byte()
	}
	return b
}

func checkWire(t *testing.T, dir mdb.Direction, payload []byte, chk, wire string) {
	t.Helper()
	assert.Equal(t, hexBytes(t, chk)[0], mdb.Checksum(payload), "CHK")
	assert.Equal(t, wire, mdb.FormatWords(mdb.Block(dir, payload...).Encode(nil)), "9-bit wire")
}

var gumID = Identity{Manufacturer: "\x01\x02\x03", Serial: strings.Repeat("\x00", 12), Model: strings.Repeat("\x00", 11) + "\x03", Software: 0x0201}

// gumWant is what each row of gum-vmc-command-frames.txt decodes to, in file order.
var gumWant = []Command{
	{Code: CmdReset},
	{Code: CmdSetupConfig, VMCLevel: 3, Columns: 1, Rows: 2, DisplayType: 3},
	{Code: CmdSetupPrices, MaxPrice: 0x64, MinPrice: 0x32},
	{Code: CmdPoll},
	{Code: CmdVendRequest, Amount: 1, Item: 0x0203},
	{Code: CmdVendRequest, Expanded: true, Amount: 0x00010203, Item: 0x0405},
	{Code: CmdVendCancel},
	{Code: CmdVendSuccess, Item: 1},
	{Code: CmdVendFailure},
	{Code: CmdSessionComplete},
	{Code: CmdCashSale, Amount: 1, Item: 0x0203},
	{Code: CmdCashSale, Expanded: true, Amount: 0x00010203, Item: 0x0405, Currency: 0x0607},
	{Code: CmdNegativeVend, Amount: 1, Item: 0x0203},
	{Code: CmdNegativeVend, Expanded: true, Amount: 0x00010203, Item: 0x0405},
	{Code: CmdReaderDisable},
	{Code: CmdReaderEnable},
	{Code: CmdReaderCancel},
	{Code: CmdRevalue, Amount: 0x0102},
	{Code: CmdRevalueLimit},
	{Code: CmdRequestID, ID: gumID},
	{Code: CmdOptionEnable, Options: 0x01020304},
}

func TestGumCommandFrames(t *testing.T) {
	rows := vectorRows(t, "gum-vmc-command-frames.txt")
	require.Len(t, rows, len(gumWant))
	for i, r := range rows {
		t.Run(r[0], func(t *testing.T) {
			payload := hexBytes(t, r[2])
			checkWire(t, mdb.FromVMC, payload, r[3], r[4])
			c, err := DecodeCommand(payload)
			require.NoError(t, err)
			assert.Equal(t, gumWant[i], c)
			enc, err := c.Encode(mdb.AddrCashless1)
			require.NoError(t, err)
			assert.Equal(t, payload, enc)
			// The framer with the length table ends the block on its own.
			fr := mdb.Framer{Dir: mdb.FromVMC, Complete: Complete(mdb.AddrCashless1, func() bool { return c.Expanded })}
			frames := fr.Feed(mdb.Block(mdb.FromVMC, payload...).Encode(nil))
			require.Len(t, frames, 1)
			require.NoError(t, frames[0].Err)
			// Cashless #2: +0x50 on the address byte and on the CHK.
			enc2, err := c.Encode(mdb.AddrCashless2)
			require.NoError(t, err)
			assert.Equal(t, payload[0]+0x50, enc2[0])
			assert.Equal(t, mdb.Checksum(payload)+0x50, mdb.Checksum(enc2))
		})
	}
}

// senvendReader is the reader of the SENVEND log: level 3, EUR, scale 5,
// 2 decimals, 200 s, refund + cash sale, always-idle.
var senvendReader = ReaderConfig{
	Level: 3, Country: 0x1978, Scale: 5, Decimals: 2, MaxResponse: 200, Misc: MiscRefund | MiscCashSale,
	ID:      Identity{Manufacturer: "VFI", Serial: strings.Repeat("0", 12), Model: strings.Repeat("0", 12), Software: 0x0500},
	Options: OptAlwaysIdle,
}

func TestSenvendFrames(t *testing.T) {
	rows := vectorRows(t, "senvend-cashless-l3-init-and-vend.txt")
	require.Len(t, rows, 15)
	mode := Mode{Level: 3}
	for _, r := range rows {
		t.Run(r[0]+" "+r[1], func(t *testing.T) {
			payload := hexBytes(t, r[2])
			if r[0] == "VMC" {
				checkWire(t, mdb.FromVMC, payload, r[3], r[4])
				c, err := DecodeCommand(payload)
				require.NoError(t, err)
				enc, err := c.Encode(mdb.AddrCashless1)
				require.NoError(t, err)
				assert.Equal(t, payload, enc)
				switch c.Code {
				case CmdSetupConfig:
					assert.Equal(t, Command{Code: CmdSetupConfig, VMCLevel: 3, Columns: 32, Rows: 1}, c)
				case CmdSetupPrices:
					assert.Equal(t, uint32(0xFFFF), c.MaxPrice)
				case CmdRequestID:
					assert.Equal(t, Identity{Manufacturer: "TVD", Serial: "002102612035", Model: "1.16.12jf223", Software: 0x1612}, c.ID)
				case CmdOptionEnable:
					assert.Equal(t, OptAlwaysIdle, c.Options)
				case CmdVendRequest:
					assert.Equal(t, uint32(60), c.Amount)
					assert.Equal(t, uint16(11), c.Item)
				case CmdVendSuccess:
					assert.Equal(t, uint16(11), c.Item)
				case CmdDiagnostics:
					assert.Contains(t, string(c.Data), "DRAV")
				}
				return
			}
			checkWire(t, mdb.FromPeripheral, payload, r[3], r[4])
			rs, err := DecodeResponses(payload, mode)
			require.NoError(t, err)
			require.Len(t, rs, 1)
			enc, err := EncodeResponses(mode, rs...)
			require.NoError(t, err)
			assert.Equal(t, payload, enc)
			switch rs[0].Code {
			case RespReaderConfig:
				assert.Equal(t, "READER CONFIG level=3 country=1978 scale=5 decimals=2 max_response=200s misc=09", rs[0].String())
			case RespPeripheralID:
				assert.Equal(t, senvendReader.ID, rs[0].ID)
				assert.Equal(t, OptAlwaysIdle, rs[0].Options)
			case RespVendApproved:
				assert.Equal(t, uint32(60), rs[0].Amount)
			case RespDiagnostic:
				assert.Contains(t, string(rs[0].Data), "DRAV")
			default:
				t.Fatalf("unexpected %v", rs[0])
			}
		})
	}
}

// TestSenvendPlaysThroughMachine feeds the VMC side of the SENVEND log to the
// state machine configured like the SENVEND reader: its answers must be the
// bytes the real reader sent.
func TestSenvendPlaysThroughMachine(t *testing.T) {
	rows := vectorRows(t, "senvend-cashless-l3-init-and-vend.txt")
	m := NewMachine(senvendReader)
	poll := func() []byte {
		out := m.Step(Command{Code: CmdPoll})
		b, err := EncodeResponses(m.Mode(), out.Reply...)
		require.NoError(t, err)
		m.Delivered(true)
		return b
	}
	var sawVend, sawResult bool
	for i, r := range rows {
		payload := hexBytes(t, r[2])
		if r[0] != "VMC" {
			continue
		}
		c, err := DecodeCommand(payload)
		require.NoError(t, err)
		out := m.Step(c)
		reply, err := EncodeResponses(m.Mode(), out.Reply...)
		require.NoError(t, err)
		switch c.Code {
		case CmdReset:
			assert.Equal(t, []byte{0x00}, poll(), "JUST RESET after RESET")
			assert.Equal(t, Inactive, m.State())
		case CmdSetupConfig, CmdRequestID:
			require.Equal(t, "PER", rows[i+1][0])
			assert.Equal(t, hexBytes(t, rows[i+1][2]), reply, c.Code.String())
		case CmdVendRequest:
			require.Empty(t, reply, "ACK, answer on a later POLL")
			assert.Equal(t, Vend, m.State(), "always-idle: vend from Enabled")
			require.Len(t, out.Events, 1)
			assert.Equal(t, Event{Kind: EventVendRequest, Amount: 60, Item: 11}, out.Events[0])
			require.NoError(t, m.Approve(out.Events[0].Amount))
			assert.Equal(t, hexBytes(t, rows[i+1][2]), poll(), "VEND APPROVED")
			sawVend = true
		case CmdVendSuccess:
			require.Len(t, out.Events, 1)
			assert.Equal(t, Event{Kind: EventVendResult, Amount: 60, Item: 11, OK: true}, out.Events[0])
			assert.Equal(t, SessionIdle, m.State())
			sawResult = true
		default:
			assert.Empty(t, reply, c.Code.String())
		}
		assert.Empty(t, m.Pending(), "no CMD OUT OF SEQUENCE after %v", c.Code)
		switch c.Code {
		case CmdSetupPrices:
			assert.Equal(t, Disabled, m.State())
		case CmdReaderEnable:
			assert.Equal(t, Enabled, m.State())
		case CmdOptionEnable:
			assert.True(t, m.AlwaysIdle())
			assert.False(t, m.Mode().Expanded)
		}
	}
	assert.True(t, sawVend)
	assert.True(t, sawResult)
	// The session the always-idle vend opened ends normally.
	m.Step(Command{Code: CmdSessionComplete})
	assert.Equal(t, []byte{0x07}, poll())
	assert.Equal(t, Enabled, m.State())
}

// TestSpecSession1 plays example #1 of spec42-worked-examples.txt (level 1,
// funds 0x64, price 0x32, item 5) through the machine.
func TestSpecSession1(t *testing.T) {
	vectorDir(t)
	m := NewMachine(ReaderConfig{Level: 1})
	for _, c := range []Command{{Code: CmdReset}, {Code: CmdPoll}, {Code: CmdSetupConfig, VMCLevel: 1}, {Code: CmdSetupPrices}, {Code: CmdReaderEnable}} {
		m.Step(c)
		m.Delivered(true)
	}
	require.Equal(t, Enabled, m.State())
	require.NoError(t, m.BeginSession(0x64))
	steps := []struct {
		vmc, per string
		event    EventKind
	}{
		{"112* 012", "003 000 064 167*", EventNone},
		{"113* 000 000 032 000 005 04A", "100*", EventVendRequest},
		{"112* 012", "005 000 032 137*", EventNone},
		{"113* 002 000 005 01A", "100*", EventVendResult},
		{"113* 004 017", "100*", EventSessionEnd},
		{"112* 012", "007 107*", EventNone},
	}
	for _, s := range steps {
		ws, err := mdb.ParseWords(s.vmc)
		require.NoError(t, err)
		fr := mdb.Framer{Dir: mdb.FromVMC, Complete: Complete(mdb.AddrCashless1, func() bool { return false })}
		frames := fr.Feed(ws)
		require.Len(t, frames, 1)
		require.NoError(t, frames[0].Err)
		c, err := DecodeCommand(frames[0].Data)
		require.NoError(t, err)
		out := m.Step(c)
		var got []mdb.Word
		if len(out.Reply) == 0 {
			got = mdb.Frame{Dir: mdb.FromPeripheral, Kind: mdb.KindACK}.Encode(nil)
		} else {
			b, err := EncodeResponses(m.Mode(), out.Reply...)
			require.NoError(t, err)
			got = mdb.Block(mdb.FromPeripheral, b...).Encode(nil)
			m.Delivered(true)
		}
		want, err := mdb.ParseWords(s.per)
		require.NoError(t, err)
		assert.Equal(t, mdb.FormatWords(want), mdb.FormatWords(got), s.vmc)
		if s.event != EventNone {
			require.NotEmpty(t, out.Events, s.vmc)
			assert.Equal(t, s.event, out.Events[0].Kind)
		}
		if s.event == EventVendRequest {
			require.NoError(t, m.Approve(0x32))
		}
	}
	assert.Equal(t, Enabled, m.State())
}

func TestSpecMultiMessage(t *testing.T) {
	vectorDir(t)
	// VEND DENIED + MALFUNCTION 07 + SESSION CANCEL REQUEST = 06 0A 07 04 1B*.
	rs, err := DecodeResponses([]byte{0x06, 0x0A, 0x07, 0x04}, Mode{Level: 3})
	require.NoError(t, err)
	require.Len(t, rs, 3)
	assert.Equal(t, []RespCode{RespVendDenied, RespMalfunction, RespSessionCancel}, []RespCode{rs[0].Code, rs[1].Code, rs[2].Code})
	assert.Equal(t, byte(0x07), rs[1].Detail)
	b, err := EncodeResponses(Mode{Level: 3}, rs...)
	require.NoError(t, err)
	assert.Equal(t, byte(0x1B), mdb.Checksum(b))
}

func TestMiscTraces(t *testing.T) {
	vectorDir(t)
	for _, tt := range []struct {
		wire string
		addr mdb.Address
		code CmdCode
	}{
		{"113 004 017", mdb.AddrCashless1, CmdSessionComplete},
		{"162 062", mdb.AddrCashless2, CmdPoll},
	} {
		ws, err := mdb.ParseWords(tt.wire)
		require.NoError(t, err)
		fr := mdb.Framer{Dir: mdb.FromVMC}
		fr.Feed(ws)
		f, ok := fr.Flush()
		require.True(t, ok)
		require.NoError(t, f.Err)
		assert.Equal(t, tt.addr, mdb.AddressOf(f.Data[0]))
		c, err := DecodeCommand(f.Data)
		require.NoError(t, err)
		assert.Equal(t, tt.code, c.Code)
	}
}
