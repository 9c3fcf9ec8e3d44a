package executive

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStreamEncoding(t *testing.T) {
	tests := []struct {
		name  string
		f     Framing
		words []Word
		bytes []byte
	}{
		{"mode-bit command", FramingModeBit, []Word{0x131}, []byte{0xFF, 0x00, 0x31}},
		{"mode-bit data FF", FramingModeBit, []Word{0x0FF}, []byte{0xFF, 0xFF}},
		{"mode-bit marked FF", FramingModeBit, []Word{0x1FF}, []byte{0xFF, 0x00, 0xFF}},
		{"mode-bit accept data", FramingModeBit, []Word{0x138, 0x014}, []byte{0xFF, 0x00, 0x38, 0x14}},
		{"even parity good", FramingEvenParity, []Word{0x131, 0x033}, []byte{0x31, 0x33}},
		{"even parity error", FramingEvenParity, []Word{0x031}, []byte{0xFF, 0x00, 0x31}},
		{"odd parity good", FramingOddParity, []Word{0x031, 0x1FF}, []byte{0x31, 0xFF, 0xFF}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.bytes, AppendStream(nil, tc.words, tc.f))
			// Every chunking decodes to the same words.
			for size := 1; size <= len(tc.bytes); size++ {
				d := StreamDecoder{Framing: tc.f}
				var got []Word
				for i := 0; i < len(tc.bytes); i += size {
					var err error
					got, err = d.Feed(got, tc.bytes[i:min(i+size, len(tc.bytes))])
					require.NoError(t, err)
				}
				assert.Equal(t, tc.words, got, "chunk size %d", size)
				assert.False(t, d.Pending())
			}
		})
	}
}

func TestStreamDecoderBadEscapeResyncs(t *testing.T) {
	d := StreamDecoder{}
	got, err := d.Feed(nil, []byte{0xFF, 0x07, 0xFF, 0x00})
	assert.ErrorIs(t, err, ErrEscape)
	assert.Empty(t, got)
	assert.True(t, d.Pending(), "FF 00 waits for its byte")
	got, err = d.Feed(got, []byte{0x32})
	require.NoError(t, err)
	assert.Equal(t, []Word{0x132}, got)
}

func TestCommandDecoder(t *testing.T) {
	type out struct {
		cmd Command
		ok  bool
		err error
	}
	tests := []struct {
		name  string
		f     Framing
		words []Word
		want  []out
	}{
		{"status credit vend", FramingModeBit, []Word{0x131, 0x132, 0x133},
			[]out{{Command{Op: OpStatus}, true, nil}, {Command{Op: OpCredit}, true, nil}, {Command{Op: OpVend}, true, nil}}},
		{"accept data", FramingModeBit, []Word{0x138, 0x0FD},
			[]out{{}, {Command{Op: OpAcceptData, Data: 0xFD}, true, nil}}},
		{"stray data", FramingModeBit, []Word{0x031},
			[]out{{err: ErrStray}}},
		{"unknown opcode", FramingModeBit, []Word{0x134},
			[]out{{err: ErrUnknownCommand}}},
		{"accept data truncated by status", FramingModeBit, []Word{0x138, 0x131},
			[]out{{}, {Command{Op: OpStatus}, true, ErrTruncated}}},
		{"accept data truncated by junk", FramingModeBit, []Word{0x138, 0x1AA},
			[]out{{}, {err: ErrUnknownCommand}}},
		{"even parity ok", FramingEvenParity, []Word{0x131, 0x033, 0x138, 0x014},
			[]out{{Command{Op: OpStatus}, true, nil}, {Command{Op: OpVend}, true, nil}, {}, {Command{Op: OpAcceptData, Data: 0x14}, true, nil}}},
		{"even parity error on command", FramingEvenParity, []Word{0x031},
			[]out{{err: ErrParity}}},
		{"odd parity error on data", FramingOddParity, []Word{0x038, 0x014, 0x031},
			[]out{{}, {err: ErrParity}, {Command{Op: OpStatus}, true, nil}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := CommandDecoder{Framing: tc.f}
			require.Len(t, tc.want, len(tc.words))
			for i, w := range tc.words {
				cmd, ok, err := d.Feed(w)
				want := tc.want[i]
				assert.Equal(t, want.ok, ok, "word %d", i)
				assert.Equal(t, want.cmd, cmd, "word %d", i)
				if want.err != nil {
					assert.ErrorIs(t, err, want.err, "word %d", i)
				} else {
					assert.NoError(t, err, "word %d", i)
				}
			}
			assert.False(t, d.Pending())
		})
	}
}

func TestDecodeReplyWord(t *testing.T) {
	r, err := DecodeReplyWord(OpCredit, 0x0FE, FramingModeBit)
	require.NoError(t, err)
	assert.Equal(t, CreditReply{}, r)
	_, err = DecodeReplyWord(OpCredit, 0x1FE, FramingModeBit)
	assert.ErrorIs(t, err, ErrParity, "a reply never carries the mode bit")
	_, err = DecodeReplyWord(OpStatus, 0x001, FramingEvenParity)
	assert.ErrorIs(t, err, ErrParity)
	r, err = DecodeReplyWord(OpStatus, 0x101, FramingEvenParity)
	require.NoError(t, err)
	assert.Equal(t, Status{Audit: 1}, r)
}

func TestStreamLinkReportsEscapeAfterWords(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	_, err := b.Write([]byte{0x00, 0xFF, 0x05, 0xFF, 0x00, 0x31})
	require.NoError(t, err)
	l := NewStreamLink(a, FramingModeBit)
	buf := make([]Word, 8)
	n, err := l.ReadWords(buf)
	require.NoError(t, err)
	assert.Equal(t, []Word{0x000, 0x131}, buf[:n])
	_, err = l.ReadWords(buf)
	assert.ErrorIs(t, err, ErrEscape, "the bad escape is reported after the words")
	require.NoError(t, l.SetReadDeadline(past))
	_, err = l.ReadWords(buf)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, b.Close())
	require.NoError(t, l.SetReadDeadline(time.Time{}))
	_, err = l.ReadWords(buf)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, l.WriteWords([]Word{0x131}), ErrClosed)
}
