package executive

import (
	"errors"
	"math/bits"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFramingWord(t *testing.T) {
	for _, f := range []Framing{FramingModeBit, FramingEvenParity, FramingOddParity} {
		t.Run(f.String(), func(t *testing.T) {
			for b := 0; b < 256; b++ {
				for _, cmd := range []bool{true, false} {
					w := f.Word(byte(b), cmd)
					require.Equal(t, byte(b), w.Byte())
					ones := bits.OnesCount16(uint16(w))
					switch f {
					case FramingModeBit:
						assert.Equal(t, cmd, w.Ninth())
					case FramingEvenParity:
						assert.Zero(t, ones%2, "%v", w)
					case FramingOddParity:
						assert.Equal(t, 1, ones%2, "%v", w)
					}
					assert.True(t, f.ok(w, cmd))
					assert.False(t, f.ok(w^NinthBit, cmd), "flipped ninth bit must be detected")
				}
			}
		})
	}
}

func TestCommandWords(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		f    Framing
		want []Word
	}{
		{"status mode-bit", Command{Op: OpStatus}, FramingModeBit, []Word{0x131}},
		{"credit mode-bit", Command{Op: OpCredit}, FramingModeBit, []Word{0x132}},
		{"vend mode-bit", Command{Op: OpVend}, FramingModeBit, []Word{0x133}},
		{"accept data mode-bit", Command{Op: OpAcceptData, Data: 0x14}, FramingModeBit, []Word{0x138, 0x014}},
		// 0x31 = 0011 0001 has three ones: even parity sets the ninth bit.
		{"status even", Command{Op: OpStatus}, FramingEvenParity, []Word{0x131}},
		{"status odd", Command{Op: OpStatus}, FramingOddParity, []Word{0x031}},
		// 0x33 has four ones.
		{"vend even", Command{Op: OpVend}, FramingEvenParity, []Word{0x033}},
		{"accept data odd", Command{Op: OpAcceptData, Data: 0x03}, FramingOddParity, []Word{0x038, 0x103}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.cmd.AppendWords(nil, tc.f))
		})
	}
}

func TestDecodeReply(t *testing.T) {
	tests := []struct {
		name string
		op   Opcode
		b    byte
		want Reply
		err  error
	}{
		{"status ack", OpStatus, 0x00, Status{}, nil},
		{"status free vend", OpStatus, 0x80, Status{FreeVend: true}, nil},
		{"status audit", OpStatus, 0x85, Status{FreeVend: true, Audit: 5}, nil},
		{"status inhibited", OpStatus, 0x40, Status{Inhibited: true}, nil},
		{"status both", OpStatus, 0xC0, Status{FreeVend: true, Inhibited: true}, nil},
		{"status reserved bits", OpStatus, 0x30, Status{Reserved: 3}, nil},
		{"status pnak", OpStatus, 0xFF, PNAK{}, nil},
		{"credit none", OpCredit, 0xFE, CreditReply{}, nil},
		{"credit request", OpCredit, 0x05, CreditReply{Requested: true, Value: 5}, nil},
		{"credit request zero", OpCredit, 0x00, CreditReply{Requested: true}, nil},
		{"credit pnak", OpCredit, 0xFF, PNAK{}, nil},
		{"vend ok", OpVend, 0x00, VendResult{}, nil},
		{"vend failed", OpVend, 0x80, VendResult{Code: 0x80}, nil},
		{"vend pnak", OpVend, 0xFF, PNAK{}, nil},
		{"accept ack", OpAcceptData, 0x00, Ack{}, nil},
		{"accept pnak", OpAcceptData, 0xFF, PNAK{}, nil},
		{"accept junk", OpAcceptData, 0x12, nil, ErrUnexpectedReply},
		{"unknown op", Opcode(0x20), 0x00, nil, ErrUnknownCommand},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeReply(tc.op, tc.b)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Contains(t, err.Error(), "executive: ")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.b, got.Byte(), "re-encoding gives the wire byte")
			assert.NotEmpty(t, got.String())
		})
	}
}

func TestVendResultOK(t *testing.T) {
	assert.True(t, VendResult{}.OK())
	assert.False(t, VendResult{Code: 1}.OK())
	assert.False(t, VendResult{Code: VendFailed}.OK())
}

func TestErrorsArePositioned(t *testing.T) {
	var we *WordError
	d := CommandDecoder{}
	_, _, _ = d.Feed(0x131)
	_, _, err := d.Feed(0x031) // data word where a command is expected
	require.True(t, errors.As(err, &we))
	assert.Equal(t, int64(1), we.Offset)
	assert.ErrorIs(t, err, ErrStray)
	assert.Equal(t, "executive: word 1 (031): data byte outside a command", err.Error())

	var se *StreamError
	_, err = (&StreamDecoder{}).Feed(nil, []byte{0x31, 0xFF, 0x07})
	require.True(t, errors.As(err, &se))
	assert.Equal(t, int64(1), se.Offset)
	assert.ErrorIs(t, err, ErrEscape)
}
