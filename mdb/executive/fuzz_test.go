package executive

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzStreamDecoder feeds arbitrary bytes in arbitrary chunks: the words
// must not depend on the chunking, and re-encoding them must decode to the
// same words (round trip).
func FuzzStreamDecoder(f *testing.F) {
	f.Add([]byte{0xFF, 0x00, 0x31}, uint8(0), uint8(1))
	f.Add([]byte{0xFF, 0xFF, 0x32, 0xFF, 0x00, 0xFF}, uint8(1), uint8(2))
	f.Add([]byte{0xFF, 0x07, 0xFF}, uint8(2), uint8(3))
	f.Add([]byte{0x31, 0x33, 0xFF}, uint8(1), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, framing, chunk uint8) {
		fr := Framing(framing % 3)
		whole := StreamDecoder{Framing: fr}
		want, wantErr := whole.Feed(nil, data)

		size := int(chunk)%7 + 1
		parts := StreamDecoder{Framing: fr}
		var got []Word
		var firstErr error
		for i := 0; i < len(data); i += size {
			var err error
			got, err = parts.Feed(got, data[i:min(i+size, len(data))])
			if firstErr == nil {
				firstErr = err
			}
		}
		require.Equal(t, want, got, "chunking changes nothing")
		assert.Equal(t, wantErr, firstErr)
		assert.Equal(t, whole.Pending(), parts.Pending())

		enc := AppendStream(nil, want, fr)
		again, err := (&StreamDecoder{Framing: fr}).Feed(nil, enc)
		require.NoError(t, err)
		assert.Equal(t, want, again, "round trip")
		if wantErr == nil && !whole.Pending() {
			assert.Equal(t, string(data), string(enc), "a valid stream has one encoding")
		}
	})
}

// FuzzCommandDecoder feeds arbitrary 9-bit words: it must not panic, every
// decoded command must be known and must re-encode to words that decode to
// the same command.
func FuzzCommandDecoder(f *testing.F) {
	f.Add([]byte{0x01, 0x31, 0x01, 0x38, 0x00, 0x14}, uint8(0))
	f.Add([]byte{0x01, 0x38, 0x01, 0x31, 0x00, 0x31}, uint8(0))
	f.Add([]byte{0x01, 0x31, 0x00, 0x33, 0x01, 0x38, 0x00, 0x14}, uint8(1))
	f.Add([]byte{0x00, 0x31, 0x00, 0xFF}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, framing uint8) {
		fr := Framing(framing % 3)
		d := CommandDecoder{Framing: fr}
		for i := 0; i+1 < len(data); i += 2 {
			w := Word(data[i]&1)<<8 | Word(data[i+1])
			cmd, ok, err := d.Feed(w)
			if !ok {
				if err == nil {
					require.True(t, d.Pending(), "no command and no error only while waiting for data")
				}
				continue
			}
			require.True(t, cmd.Op.Known())
			rd := CommandDecoder{Framing: fr}
			var back []Command
			for _, w := range cmd.AppendWords(nil, fr) {
				c, ok, err := rd.Feed(w)
				require.NoError(t, err)
				if ok {
					back = append(back, c)
				}
			}
			require.Equal(t, []Command{cmd}, back, "round trip")
		}
	})
}

// FuzzDecodeReply checks every (opcode, byte) pair: decoding never panics,
// a decoded reply re-encodes to the same byte and decodes to itself.
func FuzzDecodeReply(f *testing.F) {
	f.Add(byte(0x31), byte(0x85))
	f.Add(byte(0x32), byte(0xFE))
	f.Add(byte(0x33), byte(0xFF))
	f.Add(byte(0x38), byte(0x12))
	f.Add(byte(0x00), byte(0x00))
	f.Fuzz(func(t *testing.T, op, b byte) {
		r, err := DecodeReply(Opcode(op), b)
		if err != nil {
			assert.Nil(t, r)
			return
		}
		require.Equal(t, b, r.Byte())
		again, err := DecodeReply(Opcode(op), r.Byte())
		require.NoError(t, err)
		assert.Equal(t, r, again)
		for _, fr := range []Framing{FramingModeBit, FramingEvenParity, FramingOddParity} {
			w := fr.Word(b, false)
			got, err := DecodeReplyWord(Opcode(op), w, fr)
			require.NoError(t, err)
			assert.Equal(t, r, got)
			_, err = DecodeReplyWord(Opcode(op), w^NinthBit, fr)
			assert.ErrorIs(t, err, ErrParity)
		}
	})
}

// FuzzSession drives the state machine with arbitrary events: it must not
// panic, and its invariants must hold after every step.
func FuzzSession(f *testing.F) {
	f.Add([]byte{0, 0, 9, 100, 2, 5, 4, 0}, false)
	f.Add([]byte{0, 0, 10, 7, 2, 7, 3, 30, 4, 0}, true)
	f.Add([]byte{8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 9, 1}, false)
	f.Fuzz(func(t *testing.T, data []byte, ph bool) {
		s := NewSession(SessionConfig{PriceHolding: ph, Scale: 3, Retries: 3})
		for i := 0; i+1 < len(data); i += 2 {
			k := EventKind(data[i] % byte(numEvents))
			v := data[i+1]
			ev := Event{Kind: k, Value: v, Amount: uint32(v), Known: v%2 == 0, Status: Status{FreeVend: v&0x80 != 0, Inhibited: v&0x40 != 0}}
			before := s.Credit()
			eff := s.Step(ev)
			require.Less(t, s.State(), numStates)
			if eff.Err != nil {
				assert.Equal(t, before, s.Credit(), "a refused action changes nothing")
			}
			if eff.Record != nil && (eff.Record.Err != nil || !eff.Record.OK) {
				assert.GreaterOrEqual(t, s.Credit(), before, "no charge without a confirmed vend")
			}
			if eff.Lookup {
				require.True(t, ph)
				require.Equal(t, StatePriceRequest, s.State())
			}
			cmd := s.Next()
			require.True(t, cmd.Op.Known())
			if s.State() == StateVending {
				assert.Equal(t, OpVend, cmd.Op)
			}
			if s.State() == StateOffline {
				assert.Equal(t, OpStatus, cmd.Op)
			}
		}
	})
}
