package qibixx

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

func TestParse(t *testing.T) {
	amt := func(v uint64, d uint8) Amount { return NewAmount(v, d) }
	tests := []struct {
		line string
		want Message
	}{
		{"C,1", SlaveEnable{On: true}},
		{"C,0", SlaveEnable{}},
		{"C,START,5.00", SlaveStart{Funds: amt(500, 2)}},
		{"C,VEND,1.00", SlaveVend{Amount: amt(100, 2)}},
		{"C,VEND,1,5", SlaveVend{Amount: amt(1, 0), Item: 5, HasItem: true}},
		{"C,STOP", SlaveStop{}},
		{"C,SETCONF,mdb-currency-code=0x1978", SetConf{Key: "mdb-currency-code", Value: "0x1978"}},
		{"D,2", MasterMode{Mode: 2}},
		{"D,READER,1", MasterReader{On: true}},
		{"D,REQ,1,5", MasterRequest{Price: amt(1, 0), Item: 5}},
		{"D,END", MasterEnd{}},
		{"D,END,-1", MasterEnd{Failed: true}},
		{"X,1", SniffEnable{On: true}},
		{"F,RESPTIMEOUT,100", ConfigCmd{Key: "RESPTIMEOUT", Args: []string{"100"}}},
		{"c,STATUS,INACTIVE", Status{From: 'c', State: "INACTIVE"}},
		{"c,STATUS,VEND,1.00,2", VendRequest{Price: amt(100, 2), Item: 2}},
		{"d,STATUS,VEND", Status{From: 'd', State: "VEND"}},
		{"d,STATUS,INIT,1", Status{From: 'd', State: "INIT", Args: []string{"1"}}},
		{"d,STATUS,RESULT,1,1.00", Status{From: 'd', State: "RESULT", Args: []string{"1", "1.00"}}},
		{"c,VEND,SUCCESS", VendResult{Result: "SUCCESS"}},
		{"c,ERR,VEND 3", ErrorReport{From: 'c', Text: "VEND 3"}},
		{`d,ERR,"-1"`, ErrorReport{From: 'd', Text: `"-1"`}},
		{"r,ACK", Ack{From: 'r'}},
		{"x,ACK", Ack{From: 'x'}},
		{"c,1", ModeReply{From: 'c', Mode: 1}},
		{"x,00,0000120000,12,", Sniff{Time: 120000, HasCmd: true, Cmd: 0x12}},
		{"x,80,0000120058,00", Sniff{Status: 0x80, Time: 120058, Data: []byte{0}}},
		{"x,00,0000120081,ACK", Sniff{Time: 120081, Code: "ACK"}},
		{"x,00,0000121000,13,0000fa0005", Sniff{Time: 121000, HasCmd: true, Cmd: 0x13, Data: []byte{0, 0, 0xFA, 0, 5}}},
		{"c,STATUS,SOMETHING,NEW", Status{From: 'c', State: "SOMETHING", Args: []string{"NEW"}}},
		{"C,FROB,1", Unknown{P: 'C', Fields: []string{"FROB", "1"}}},
		{"V", Unknown{P: 'V'}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, err := Parse(tt.line)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.line, got.String(), "formatting gives the line back")
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line  string
		field int
		err   error
	}{
		{"C,START,abc", 2, ErrAmount},
		{"C,START,-1", 2, ErrAmount},
		{"C,START,1.", 2, ErrAmount},
		{"C,VEND", 2, ErrSyntax},
		{"C,VEND,1,99999", 3, ErrSyntax},
		{"C,1,2", 2, ErrSyntax},
		{"C,SETCONF,novalue", 2, ErrSyntax},
		{"D,READER,2", 2, ErrSyntax},
		{"D,END,0", 2, ErrSyntax},
		{"c,STATUS,VEND,x,2", 3, ErrAmount},
		{"c,STATUS", 2, ErrSyntax},
		{"x,0g,0000000001,12,", 1, ErrSyntax},
		{"x,00,00000000a1,12,", 2, ErrSyntax},
		{"x,00,0000000001,123,", 3, ErrSyntax},
		{"x,00,0000000001,12,abc", 4, ErrSyntax},
		{"x,00,1,12,00,00", 5, ErrSyntax},
		{"CC,1", 0, ErrSyntax},
		{"\xda", 0, ErrSyntax},
		{" ,1", 0, ErrSyntax},
		{"C,1\rC,0", 0, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, err := Parse(tt.line)
			require.ErrorIs(t, err, tt.err)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.field, pe.Field)
			assert.True(t, strings.HasPrefix(err.Error(), "qibixx: "), err.Error())
		})
	}
	_, err := Parse("")
	assert.ErrorIs(t, err, ErrEmpty)
}

func TestAmount(t *testing.T) {
	tests := []struct {
		in     string
		want   Amount
		out    string
		cents  uint64
		centOK bool
	}{
		{"1.00", NewAmount(100, 2), "1.00", 100, true},
		{"1", NewAmount(1, 0), "1", 100, true},
		{"0.5", NewAmount(5, 1), "0.5", 50, true},
		{".05", NewAmount(5, 2), "0.05", 5, true},
		{"0.001", NewAmount(1, 3), "0.001", 0, false},
		{"007", NewAmount(7, 0), "7", 700, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := ParseAmount(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, a)
			assert.Equal(t, tt.out, a.String())
			c, ok := a.Scaled(2)
			assert.Equal(t, tt.centOK, ok)
			assert.Equal(t, tt.cents, c)
		})
	}
	assert.True(t, NewAmount(1, 0).Equal(NewAmount(100, 2)))
	assert.False(t, NewAmount(1, 0).Equal(NewAmount(101, 2)))
	for _, bad := range []string{"", ".", "1.", "+1", "1e3", "1,0", "1234567890123456789"} {
		_, err := ParseAmount(bad)
		assert.ErrorIs(t, err, ErrAmount, bad)
	}
}

func TestFramerChunking(t *testing.T) {
	stream := "c,STATUS,INACTIVE\r\nc,STATUS,DISABLED\n\nr,ACK\rc,STATUS,ENABLED\n" + "partial"
	want := []string{"c,STATUS,INACTIVE", "c,STATUS,DISABLED", "r,ACK", "c,STATUS,ENABLED"}
	for _, size := range []int{1, 2, 3, 7, 64} {
		t.Run("chunk"+string(rune('0'+size%10)), func(t *testing.T) {
			var f Framer
			var got []string
			for i := 0; i < len(stream); i += size {
				for _, l := range f.Feed([]byte(stream[i:min(i+size, len(stream))])) {
					require.NoError(t, l.Err)
					got = append(got, l.Text)
				}
			}
			assert.Equal(t, want, got)
			assert.True(t, f.Pending())
			assert.Equal(t, []Line{{Text: "partial"}}, f.Feed([]byte("\n")))
		})
	}
}

func TestFramerLongLine(t *testing.T) {
	f := Framer{MaxLine: 8}
	out := f.Feed([]byte("0123456789abc\nr,ACK\n"))
	require.Len(t, out, 2)
	var le *LineTooLongError
	require.ErrorAs(t, out[0].Err, &le)
	assert.Equal(t, 13, le.Len)
	assert.ErrorIs(t, out[0].Err, ErrLineTooLong)
	assert.Equal(t, "r,ACK", out[1].Text)
}

func TestSniffFrame(t *testing.T) {
	tests := []struct {
		line string
		want mdb.Frame
	}{
		{"x,00,0000000100,12,", mdb.Block(mdb.FromVMC, 0x12)},
		{"x,80,0000000158,00", mdb.Block(mdb.FromPeripheral, 0x00)},
		{"x,00,0000000181,ACK", mdb.Frame{Dir: mdb.FromVMC, Kind: mdb.KindACK}},
		{"x,80,0000000181,ACK", mdb.Frame{Dir: mdb.FromPeripheral, Kind: mdb.KindACK}},
		{"x,80,0000000181,NAK", mdb.Frame{Dir: mdb.FromPeripheral, Kind: mdb.KindNAK}},
		{"x,00,0000000181,RET", mdb.Frame{Dir: mdb.FromVMC, Kind: mdb.KindRET}},
		{"x,00,0000000200,13,0000fa0005", mdb.Block(mdb.FromVMC, 0x13, 0, 0, 0xFA, 0, 5)},
		{"x,01,0000000200,12,", mdb.Frame{Dir: mdb.FromVMC, Kind: mdb.KindBlock, Data: []byte{0x12}, Err: &BusError{Code: 1}}},
		{"x,80,0000000200,", mdb.Frame{Dir: mdb.FromPeripheral, Kind: mdb.KindBlock, Err: ErrEmptyBlock}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			m, err := Parse(tt.line)
			require.NoError(t, err)
			s := m.(Sniff)
			assert.Equal(t, tt.want, s.Frame())
		})
	}
	m, _ := Parse("x,00,0000012345,12,")
	assert.Equal(t, "1.2345s", m.(Sniff).Elapsed().String())
}

func TestSorter(t *testing.T) {
	s := Sorter{Window: 50}
	mk := func(ts uint64) Sniff { return Sniff{Time: ts, Code: "ACK"} }
	times := func(ss []Sniff) []uint64 {
		var out []uint64
		for _, x := range ss {
			out = append(out, x.Time)
		}
		return out
	}
	assert.Empty(t, s.Push(mk(100)))
	assert.Empty(t, s.Push(mk(140)))
	assert.Empty(t, s.Push(mk(120)), "a late line inside the window is held")
	assert.Equal(t, []uint64{100, 120}, times(s.Push(mk(175))))
	assert.Equal(t, 2, s.Len())
	assert.Equal(t, []uint64{140, 175}, times(s.Flush()))
	assert.Zero(t, s.Len())
	d := Sorter{}
	assert.Empty(t, d.Push(mk(0)))
	assert.Equal(t, []uint64{0}, times(d.Push(mk(DefaultSortWindow))))
}

// vectorSession is one "# [N]" section of the shared vector file: lines the
// host sends (">") and the adapter reports ("<").
type vectorStep struct {
	host bool
	line string
}

func loadVectors(t *testing.T) map[string][]vectorStep {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "testdata", "mdb", "qibixx-text-api-sessions.txt")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("Qibixx vectors not available: %v", err)
	}
	defer f.Close()
	out := map[string][]vectorStep{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "# [") {
			section, _, _ = strings.Cut(l[2:], "]")
			section += "]"
			continue
		}
		if len(l) < 2 || l[0] != '>' && l[0] != '<' {
			continue
		}
		text, _, _ := strings.Cut(l[1:], "#")
		out[section] = append(out[section], vectorStep{host: l[0] == '>', line: strings.TrimSpace(text)})
	}
	require.NoError(t, sc.Err())
	return out
}

func TestVectorLinesParse(t *testing.T) {
	v := loadVectors(t)
	require.Len(t, v["[1]"], 9)
	require.Len(t, v["[2]"], 26)
	for name, steps := range v {
		for _, s := range steps {
			t.Run(name+" "+s.line, func(t *testing.T) {
				m, err := Parse(s.line)
				require.NoError(t, err)
				assert.Equal(t, s.line, m.String())
				_, unknown := m.(Unknown)
				assert.False(t, unknown, "every line of the vector file is a documented message, got %T", m)
				upper := m.Prefix() >= 'A' && m.Prefix() <= 'Z'
				assert.Equal(t, s.host, upper, "host lines are upper case, adapter lines lower case")
			})
		}
	}
}
