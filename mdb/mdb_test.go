package mdb

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vectorDir finds ../shared/testdata/mdb relative to the repository root.
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

func readLines(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(vectorDir(t), name))
	require.NoError(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	require.NoError(t, sc.Err())
	return out
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for _, tok := range strings.Fields(s) {
		w, err := ParseWord(tok)
		require.NoError(t, err, tok)
		require.False(t, w.Mode(), tok)
		out = append(out, w.Byte())
	}
	return out
}

func TestChecksumSpecExample(t *testing.T) {
	// [MDB 4.2 §2.2] changer STATUS reply: sum 0x12C -> CHK 2C.
	data := []byte{0x02, 0x00, 0x01, 0x05, 0x02, 0x00, 0x07, 0x01, 0x02, 0x05, 0x14, 0xFF}
	assert.Equal(t, byte(0x2C), Checksum(data))
	words := Block(FromPeripheral, data...).Encode(nil)
	assert.Equal(t, "002 000 001 005 002 000 007 001 002 005 014 0FF 12C", FormatWords(words))
}

func TestFrameEncode(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		want string
	}{
		{"vmc poll", Block(FromVMC, 0x12), "112 012"},
		{"vmc reset #2", Block(FromVMC, 0x60), "160 060"},
		{"peripheral ack", Frame{Dir: FromPeripheral, Kind: KindACK}, "100"},
		{"peripheral nak", Frame{Dir: FromPeripheral, Kind: KindNAK}, "1FF"},
		{"vmc ack", Frame{Dir: FromVMC, Kind: KindACK}, "000"},
		{"vmc ret", Frame{Dir: FromVMC, Kind: KindRET}, "0AA"},
		{"just reset", Block(FromPeripheral, 0x00), "000 100"},
		{"multi message", Block(FromPeripheral, 0x06, 0x0A, 0x07, 0x04), "006 00A 007 004 11B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, FormatWords(tt.f.Encode(nil)))
		})
	}
}

// TestSpecWorkedExamples replays the byte-filled vend session of
// spec42-worked-examples.txt: every segment frames to a block whose CHK checks.
func TestSpecWorkedExamples(t *testing.T) {
	var segs int
	for _, line := range readLines(t, "spec42-worked-examples.txt") {
		line = strings.TrimPrefix(line, "#")
		if !strings.Contains(line, "VMC 1") {
			continue
		}
		// Split "VMC ... PER ... (comment) VMC ..." into labelled segments.
		for _, part := range strings.Split(line, "VMC")[1:] {
			for i, seg := range strings.Split(part, "PER") {
				seg = strings.TrimSpace(seg)
				if j := strings.IndexByte(seg, '('); j >= 0 {
					seg = seg[:j]
				}
				ws, err := ParseWords(seg)
				require.NoError(t, err, seg)
				dir := FromVMC
				if i > 0 {
					dir = FromPeripheral
				}
				fr := Framer{Dir: dir}
				frames := fr.Feed(ws)
				if f, ok := fr.Flush(); ok {
					frames = append(frames, f)
				}
				require.NotEmpty(t, frames, seg)
				for _, f := range frames {
					require.NoError(t, f.Err, seg)
					assert.Equal(t, ws, f.Encode(nil)[:len(f.Encode(nil))], seg)
				}
				segs++
			}
		}
	}
	assert.GreaterOrEqual(t, segs, 12)
}

func TestFramerChunking(t *testing.T) {
	// A peripheral stream: READER CONFIG, ACK, NAK, a block with FF data.
	stream := Block(FromPeripheral, 0x01, 0x03, 0x19, 0x78, 0x05, 0x02, 0xC8, 0x09).Encode(nil)
	stream = append(stream, W(ACK, true), W(NAK, true))
	stream = Block(FromPeripheral, 0xFF, 0x05).Encode(stream)
	for chunk := 1; chunk <= len(stream); chunk++ {
		fr := Framer{Dir: FromPeripheral}
		var got []Frame
		for i := 0; i < len(stream); i += chunk {
			got = append(got, fr.Feed(stream[i:min(i+chunk, len(stream))])...)
		}
		require.Len(t, got, 4, "chunk %d", chunk)
		assert.Equal(t, []byte{0x01, 0x03, 0x19, 0x78, 0x05, 0x02, 0xC8, 0x09}, got[0].Data)
		assert.Equal(t, byte(0x6D), Checksum(got[0].Data))
		assert.Equal(t, KindACK, got[1].Kind)
		assert.Equal(t, KindNAK, got[2].Kind)
		assert.Equal(t, []byte{0xFF, 0x05}, got[3].Data)
		for _, f := range got {
			assert.NoError(t, f.Err)
		}
	}
}

func TestFramerVMCDirection(t *testing.T) {
	// POLL, then a VEND REQUEST, then the VMC's ACK to a reply: ends are found
	// by the next address byte and by Flush.
	ws, err := ParseWords("112 012 113 000 000 03C 000 00B 05A 000 114 001 015")
	require.NoError(t, err)
	fr := Framer{Dir: FromVMC}
	got := fr.Feed(ws)
	f, ok := fr.Flush()
	require.True(t, ok)
	got = append(got, f)
	require.Len(t, got, 3)
	assert.Equal(t, []byte{0x12}, got[0].Data)
	assert.Equal(t, []byte{0x13, 0x00, 0x00, 0x3C, 0x00, 0x0B, 0x5A}, got[1].Data)
	// Without a length table the trailing ACK is read as part of the block: bad CHK.
	assert.ErrorIs(t, got[1].Err, ErrChecksum)
	assert.Equal(t, []byte{0x14, 0x01}, got[2].Data)

	// With a length table the block ends on its own and the ACK is recognised.
	fr = Framer{Dir: FromVMC, Complete: func(b []byte) bool {
		n := map[byte]int{0x12: 2, 0x13: 7, 0x14: 3}[b[0]]
		return len(b) == n
	}}
	got = fr.Feed(ws)
	require.Len(t, got, 4)
	assert.NoError(t, got[1].Err)
	assert.Equal(t, KindACK, got[2].Kind)
	assert.Equal(t, []byte{0x14, 0x01}, got[3].Data)
	assert.False(t, fr.Pending())
}

func TestFramerErrors(t *testing.T) {
	t.Run("bad chk", func(t *testing.T) {
		fr := Framer{Dir: FromPeripheral}
		got := fr.Feed([]Word{0x0B, W(0x01, true)})
		require.Len(t, got, 1)
		var ce *ChecksumError
		require.ErrorAs(t, got[0].Err, &ce)
		assert.Equal(t, byte(0x01), ce.Got)
		assert.Equal(t, byte(0x0B), ce.Want)
	})
	t.Run("too long", func(t *testing.T) {
		fr := Framer{Dir: FromPeripheral}
		ws := make([]Word, 40)
		got := fr.Feed(append(ws, W(0, true)))
		require.Len(t, got, 1)
		assert.ErrorIs(t, got[0].Err, ErrTooLong)
	})
	t.Run("stray", func(t *testing.T) {
		fr := Framer{Dir: FromVMC}
		got := fr.Feed([]Word{0x42})
		require.Len(t, got, 1)
		assert.ErrorIs(t, got[0].Err, ErrStray)
	})
}

// TestParmrkVectors replays linux-parmrk-wire-vectors.txt.
func TestParmrkVectors(t *testing.T) {
	var a, b, c int
	for _, line := range readLines(t, "linux-parmrk-wire-vectors.txt") {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			if strings.Contains(line, "-> read():") {
				// Section C: VMC sends, peripheral reads with PARMRK.
				parts := strings.Split(line, "-> read():")
				wire := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(parts[0], "#")), "wire 9-bit:"))
				ws, err := ParseWords(wire)
				require.NoError(t, err)
				raw := hexBytes(t, parts[1])
				var d ParmrkDecoder
				got, err := d.Decode(nil, raw)
				require.NoError(t, err)
				assert.Equal(t, ws, got)
				assert.Equal(t, raw, AppendParmrk(nil, ws))
				fr := Framer{Dir: FromVMC}
				fr.Feed(got)
				f, ok := fr.Flush()
				require.True(t, ok)
				require.NoError(t, f.Err)
				assert.Equal(t, []byte{0x11, 0x01, 0xFF, 0xFF, 0x00, 0x00}, f.Data)
				c++
			}
			continue
		}
		cols := strings.Split(line, "|")
		if len(cols) == 4 { // section A
			t.Run("A/"+strings.TrimSpace(cols[0]), func(t *testing.T) {
				payload := []byte{}
				if p := strings.TrimSpace(cols[1]); p != "(none)" {
					payload = hexBytes(t, p)
				}
				raw, err := ParseWords(strings.TrimSpace(cols[2]))
				require.NoError(t, err)
				esc := hexBytes(t, strings.Split(cols[3], "(")[0])
				var d ParmrkDecoder
				got, err := d.Decode(nil, esc)
				require.NoError(t, err)
				assert.Equal(t, raw, got)
				assert.Equal(t, esc, AppendParmrk(nil, raw))
				fr := Framer{Dir: FromPeripheral}
				frames := fr.Feed(got)
				require.Len(t, frames, 1)
				require.NoError(t, frames[0].Err)
				if len(payload) == 0 {
					assert.Equal(t, KindACK, frames[0].Kind)
				} else {
					assert.Equal(t, payload, frames[0].Data)
				}
			})
			a++
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		t.Run("B/"+f[0], func(t *testing.T) {
			// name request stream... expectation
			rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(line, f[0]), " "))
			rest = strings.TrimSpace(strings.TrimPrefix(rest, f[1]))
			var streamPart, expect string
			if strings.HasPrefix(rest, "(nothing)") {
				streamPart, expect = "", strings.TrimSpace(strings.TrimPrefix(rest, "(nothing)"))
			} else {
				i := strings.Index(rest, "   ")
				require.Positive(t, i)
				streamPart, expect = rest[:i], strings.TrimSpace(rest[i:])
			}
			var d ParmrkDecoder
			fr := Framer{Dir: FromPeripheral}
			var frames []Frame
			for _, chunk := range strings.Split(streamPart, "|") {
				chunk = strings.TrimSpace(chunk)
				var raw []byte
				if len(chunk) > 2 && !strings.Contains(chunk, " ") {
					for i := 0; i+2 <= len(chunk); i += 2 {
						raw = append(raw, hexBytes(t, chunk[i:i+2])...)
					}
				} else if chunk != "" {
					raw = hexBytes(t, chunk)
				}
				ws, err := d.Decode(nil, raw)
				require.NoError(t, err)
				frames = append(frames, fr.Feed(ws)...)
			}
			switch {
			case strings.HasPrefix(expect, "(empty"):
				require.Len(t, frames, 1)
				assert.Equal(t, KindACK, frames[0].Kind)
			case strings.HasPrefix(expect, "io.EOF"):
				assert.Empty(t, frames)
			case strings.HasPrefix(expect, "InvalidChecksum"):
				require.Len(t, frames, 1)
				var ce *ChecksumError
				require.ErrorAs(t, frames[0].Err, &ce)
				assert.Equal(t, byte(0x01), ce.Got)
				assert.Equal(t, byte(0x0B), ce.Want)
			default:
				want := hexBytes(t, strings.Split(expect, "(")[0])
				require.Len(t, frames, 1)
				require.NoError(t, frames[0].Err)
				assert.Equal(t, want, frames[0].Data)
			}
		})
		b++
	}
	assert.Equal(t, 3, a, "section A vectors")
	assert.Equal(t, 6, b, "section B vectors")
	assert.Equal(t, 1, c, "section C vectors")
}

func TestParmrkDecoderSplitAndInvalid(t *testing.T) {
	var d ParmrkDecoder
	got, err := d.Decode(nil, []byte{0x12, 0xFF})
	require.NoError(t, err)
	assert.True(t, d.Pending())
	got, err = d.Decode(got, []byte{0x00})
	require.NoError(t, err)
	got, err = d.Decode(got, []byte{0x34, 0xFF, 0xFF})
	require.NoError(t, err)
	assert.Equal(t, []Word{0x12, W(0x34, true), 0xFF}, got)
	_, err = d.Decode(nil, []byte{0xFF, 0x07})
	var pe *ParmrkError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, int64(6), pe.Offset)
}

func TestParseWord(t *testing.T) {
	tests := []struct {
		in   string
		want Word
		bad  bool
	}{
		{"112", 0x112, false}, {"012", 0x12, false}, {"12*", 0x112, false}, {"FF", 0xFF, false},
		{"0x1FF", 0x1FF, false}, {"212", 0, true}, {"1*", 0, true}, {"zz", 0, true}, {"1234", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			w, err := ParseWord(tt.in)
			if tt.bad {
				assert.ErrorIs(t, err, ErrSyntax)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, w)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	assert.Equal(t, 5*time.Millisecond, c.Response)
	assert.Equal(t, time.Millisecond, c.InterByte)
	assert.Equal(t, 5*time.Second, c.NonResponse)
	assert.Equal(t, 200*time.Millisecond, c.Setup)
	c = Config{Response: 50 * time.Millisecond}.WithDefaults()
	assert.Equal(t, 50*time.Millisecond, c.Response)
}

// echoPeripheral answers every block addressed to 0x10: POLL with a data
// block, anything else with ACK.
func echoPeripheral(ctx context.Context, l *Peripheral, data []byte, delivered chan<- error) {
	for {
		f, err := l.Recv(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			_ = l.NAK(ctx)
			continue
		}
		if AddressOf(f.Data[0]) != AddrCashless1 {
			continue
		}
		if f.Data[0] == 0x12 {
			err := l.Reply(ctx, data)
			if delivered != nil {
				delivered <- err
			}
			continue
		}
		_ = l.Reply(ctx, nil)
	}
}

func pollComplete(b []byte) bool { return len(b) == 2 && (b[0] == 0x12 || b[0] == 0x10) }

func TestLinkOverPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, p := Pipe(PipeOptions{CharTime: 1146 * time.Microsecond})
		defer v.Close()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		m := NewMaster(v, Config{})
		per := NewPeripheral(p, Config{}, nil) // no length table: blocks end by gap
		delivered := make(chan error, 4)
		go echoPeripheral(ctx, per, []byte{0x03, 0x00, 0x64}, delivered)

		resp, err := m.Transact(ctx, []byte{0x10})
		require.NoError(t, err)
		assert.Nil(t, resp)
		start := time.Now()
		resp, err = m.Transact(ctx, []byte{0x12})
		require.NoError(t, err)
		assert.Equal(t, []byte{0x03, 0x00, 0x64}, resp)
		require.NoError(t, <-delivered, "peripheral saw the VMC's ACK")
		// 2 words out, 1 ms gap, 4 words back, 1 ACK word: all inside the timing.
		assert.Less(t, time.Since(start), 12*time.Millisecond)

		// Nobody at 0x30: silence becomes ErrTimeout after t response.
		start = time.Now()
		_, err = m.Transact(ctx, []byte{0x33})
		assert.ErrorIs(t, err, ErrTimeout)
		assert.GreaterOrEqual(t, time.Since(start), DefaultResponse)
	})
}

func TestLinkRetransmit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, p := Pipe(PipeOptions{})
		defer v.Close()
		ctx := t.Context()
		m := NewMaster(v, Config{})
		// A hand-written peripheral that corrupts its first answer, then answers
		// properly after RET.
		go func() {
			buf := make([]Word, 16)
			_, _ = p.ReadWords(buf) // POLL
			_ = p.WriteWords([]Word{0x07, W(0x99, true)})
			n, _ := p.ReadWords(buf)
			if n == 1 && buf[0] == Word(RET) {
				_ = p.WriteWords(Block(FromPeripheral, 0x07).Encode(nil))
			}
			n, _ = p.ReadWords(buf)
			if n == 1 && buf[0] == Word(ACK) {
				_ = p.WriteWords(nil)
			}
		}()
		resp, err := m.Transact(ctx, []byte{0x12})
		require.NoError(t, err)
		assert.Equal(t, []byte{0x07}, resp)
	})
}

func TestPeripheralReplyNotAcked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v, p := Pipe(PipeOptions{})
		defer v.Close()
		ctx := t.Context()
		per := NewPeripheral(p, Config{}, pollComplete)
		done := make(chan error, 1)
		go func() {
			if _, err := per.Recv(ctx); err != nil {
				done <- err
				return
			}
			done <- per.Reply(ctx, []byte{0x07})
		}()
		require.NoError(t, v.WriteWords(Block(FromVMC, 0x12).Encode(nil)))
		buf := make([]Word, 8)
		n, err := v.ReadWords(buf)
		require.NoError(t, err)
		assert.Equal(t, "007 107", FormatWords(buf[:n]))
		// The VMC says NAK.
		require.NoError(t, v.WriteWords([]Word{Word(NAK)}))
		assert.ErrorIs(t, <-done, ErrNAK)
	})
}

func TestContextCancelUnblocksRecv(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, p := Pipe(PipeOptions{})
		per := NewPeripheral(p, Config{}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { _, err := per.Recv(ctx); done <- err }()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	})
}

func TestStreamPortOverPipe(t *testing.T) {
	// StreamPort over an in-memory byte pipe: words with and without the mode
	// bit, and FF data, survive.
	a, b := netPipe()
	defer a.Close()
	defer b.Close()
	sa, sb := NewStreamPort(a), NewStreamPort(b)
	words := []Word{W(0x12, true), 0x12, 0xFF, W(0xFF, true), 0x00, W(0x00, true)}
	go func() { _ = sa.WriteWords(words) }()
	var got []Word
	buf := make([]Word, 4)
	require.NoError(t, sb.SetReadDeadline(time.Now().Add(5*time.Second)))
	for len(got) < len(words) {
		n, err := sb.ReadWords(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	assert.Equal(t, words, got)
	require.NoError(t, sb.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	_, err := sb.ReadWords(buf)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
}
