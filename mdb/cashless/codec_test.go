package cashless

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vendgate/mdb"
)

func TestResponseLayouts(t *testing.T) {
	id := Identity{Manufacturer: "VGT", Serial: "000000000001", Model: "VENDGATE    ", Software: 0x0100}
	tests := []struct {
		name string
		mode Mode
		r    Response
		want []byte
	}{
		{"just reset", Mode{Level: 3}, Response{Code: RespJustReset}, []byte{0x00}},
		{"begin session L1", Mode{Level: 1}, Response{Code: RespBeginSession, Amount: 0x64}, []byte{0x03, 0x00, 0x64}},
		{"begin session L3", Mode{Level: 3}, Response{Code: RespBeginSession, Amount: 0x64, MediaID: 0x01020304, PaymentType: 0x40, PaymentData: 0x0506},
			[]byte{0x03, 0x00, 0x64, 1, 2, 3, 4, 0x40, 5, 6}},
		{"begin session expanded", Mode{Level: 3, Expanded: true}, Response{Code: RespBeginSession, Amount: 0x10000, MediaID: 1, Language: 0x656E, Currency: 0x1978, CardOptions: 1},
			[]byte{0x03, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x65, 0x6E, 0x19, 0x78, 1}},
		{"vend approved 16", Mode{Level: 3}, Response{Code: RespVendApproved, Amount: 0x3C}, []byte{0x05, 0x00, 0x3C}},
		{"vend approved 32", Mode{Level: 3, Expanded: true}, Response{Code: RespVendApproved, Amount: 0x3C}, []byte{0x05, 0, 0, 0x00, 0x3C}},
		{"revalue limit", Mode{Level: 2}, Response{Code: RespRevalueLimit, Amount: 0x200}, []byte{0x0F, 0x02, 0x00}},
		{"malfunction", Mode{Level: 3}, Response{Code: RespMalfunction, Detail: 0xC0}, []byte{0x0A, 0xC0}},
		{"oos L2", Mode{Level: 2}, Response{Code: RespOutOfSequence, Detail: 4}, []byte{0x0B, 0x04}},
		{"display", Mode{Level: 3, DisplaySize: 4}, Response{Code: RespDisplayRequest, Detail: 30, Data: []byte("HI  ")}, []byte{0x02, 30, 'H', 'I', ' ', ' '}},
		{"data entry request", Mode{Level: 3}, Response{Code: RespDataEntryRequest, Detail: 0x14}, []byte{0x12, 0x14}},
		{"revalue approved", Mode{Level: 3}, Response{Code: RespRevalueApproved}, []byte{0x0D}},
		{"time/date request", Mode{Level: 3}, Response{Code: RespTimeDateRequest}, []byte{0x11}},
		{"diagnostic", Mode{Level: 3}, Response{Code: RespDiagnostic, Data: []byte{1, 2}}, []byte{0xFF, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.r.Append(nil, tt.mode)
			require.NoError(t, err)
			assert.Equal(t, tt.want, b)
			rs, err := DecodeResponses(b, tt.mode)
			require.NoError(t, err)
			require.Len(t, rs, 1)
			assert.Equal(t, tt.r, rs[0])
		})
	}
	t.Run("peripheral id", func(t *testing.T) {
		r := Response{Code: RespPeripheralID, ID: id, Options: OptAlwaysIdle}
		b, err := r.Append(nil, Mode{Level: 3})
		require.NoError(t, err)
		assert.Len(t, b, 34)
		b2, err := Response{Code: RespPeripheralID, ID: id}.Append(nil, Mode{Level: 2})
		require.NoError(t, err)
		assert.Len(t, b2, 30)
		rs, _, err := GuessResponses(b2)
		require.NoError(t, err)
		assert.Equal(t, id, rs[0].ID)
	})
}

func TestDecodeErrors(t *testing.T) {
	_, err := DecodeCommand([]byte{0x13, 0x00, 0x01})
	assert.ErrorIs(t, err, ErrLength)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, uint16(CmdVendRequest), de.Code)
	_, err = DecodeCommand([]byte{0x16})
	assert.ErrorIs(t, err, ErrUnknown)
	_, err = DecodeCommand([]byte{0x13, 0x09})
	assert.ErrorIs(t, err, ErrUnknown)
	_, err = DecodeResponses([]byte{0x06, 0x05, 0x00}, Mode{Level: 3})
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 1, de.Offset)
	_, err = DecodeResponses([]byte{0x0C}, Mode{Level: 3})
	assert.ErrorIs(t, err, ErrUnknown)
	_, err = EncodeResponses(Mode{Level: 3}, make([]Response, 40)...)
	assert.ErrorIs(t, err, ErrTooLong)
}

func TestCommandLength(t *testing.T) {
	assert.Equal(t, 2, CommandLength([]byte{0x12}, false))
	assert.Equal(t, 0, CommandLength([]byte{0x13}, false))
	assert.Equal(t, 7, CommandLength([]byte{0x13, 0x00}, false))
	assert.Equal(t, 9, CommandLength([]byte{0x13, 0x00}, true))
	assert.Equal(t, 32, CommandLength([]byte{0x67, 0x00}, false))
	assert.Equal(t, -1, CommandLength([]byte{0x17, 0xFF}, false))
	assert.Equal(t, 0, CommandLength([]byte{0x17, 0x02, 0x01}, false))
	assert.Equal(t, 8, CommandLength([]byte{0x17, 0x02, 0x01, 0x03}, false))
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{0x13, 0x00, 0x00, 0x3C, 0x00, 0x0B})
	f.Add([]byte{0x11, 0x01, 0xFF, 0xFF, 0x00, 0x00})
	f.Add([]byte{0x67, 0x02, 0x01, 0x02, 0xAA, 0xBB})
	f.Add([]byte{0x17, 0xFF, 0x05, 0x06, 0x12, 0x44})
	f.Add([]byte{0x63, 0x05, 0, 1, 2, 3, 4, 5, 6, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		_ = c.String()
		enc, err := c.Encode(mdb.AddressOf(b[0]))
		if len(b)+1 > mdb.MaxBlock {
			if err == nil {
				t.Fatalf("over-long command encoded")
			}
			return
		}
		if err != nil {
			t.Fatalf("decoded %v does not encode: %v", c, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("round trip: % X -> %v -> % X", b, c, enc)
		}
		if n := CommandLength(b, c.Expanded); n > 0 && n != len(b)+1 {
			t.Fatalf("CommandLength %d for %d-byte %v", n, len(b), c.Code)
		}
	})
}

func FuzzDecodeResponses(f *testing.F) {
	f.Add([]byte{0x06, 0x0A, 0x07, 0x04}, uint8(3))
	f.Add([]byte{0x01, 0x03, 0x19, 0x78, 0x05, 0x02, 0xC8, 0x09}, uint8(3))
	f.Add([]byte{0x03, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x65, 0x6E, 0x19, 0x78, 1}, uint8(7))
	f.Add([]byte{0x10, 0x01, 0x02, 0xAA, 0xBB}, uint8(2))
	f.Add([]byte{0x02, 0x10, 0x41, 0x42}, uint8(0x13))
	f.Fuzz(func(t *testing.T, b []byte, m uint8) {
		mode := Mode{Level: m&3 + 0, Expanded: m&4 != 0, DisplaySize: int(m >> 4)}
		if mode.Level == 0 {
			mode.Level = 1
		}
		rs, err := DecodeResponses(b, mode)
		if err != nil {
			return
		}
		var enc []byte
		for _, r := range rs {
			_ = r.String()
			if enc, err = r.Append(enc, mode); err != nil {
				t.Fatalf("decoded %v does not encode: %v", r, err)
			}
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("round trip: % X -> %v -> % X", b, rs, enc)
		}
		_, _, _ = GuessResponses(b)
	})
}
