package dex

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendFrameVectors(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{
			// Real Crane 423 Shopper first handshake as VMD master (robinsonkwame log).
			name: "crane request",
			got:  AppendRequest(nil, Request{CommID: "CNV   DE32", Op: OpSend, Revision: 1, Level: 1}),
			want: append(append([]byte{DLE, SOH}, "CNV   DE32SR01L01"...), DLE, ETX, 0x75, 0x9B),
		},
		{
			name: "esp32 canned request",
			got:  AppendRequest(nil, Request{CommID: "6150210000", Op: OpRead, Revision: 1, Level: 1}),
			want: append(append([]byte{DLE, SOH}, "6150210000RR01L01"...), DLE, ETX, 0x1A, 0x6D),
		},
		{
			name: "nodestark request R00L06",
			got:  AppendRequest(nil, Request{CommID: "1234567890", Op: OpRead, Revision: 0, Level: 6}),
			want: append(append([]byte{DLE, SOH}, "1234567890RR00L06"...), DLE, ETX, 0xE1, 0xBD),
		},
		{
			name: "short comm id padded",
			got:  AppendRequest(nil, Request{CommID: "CNV", Op: OpSend, Revision: 1, Level: 1})[:12],
			want: append([]byte{DLE, SOH}, "CNV       "...),
		},
		{
			name: "DLE in text doubled, counted once in CRC",
			got:  AppendBlock(nil, []byte{'A', DLE, 'B'}, true),
			want: func() []byte {
				c := CRC16([]byte{'A', DLE, 'B', ETX})
				return []byte{DLE, STX, 'A', DLE, DLE, 'B', DLE, ETX, byte(c), byte(c >> 8)}
			}(),
		},
		{
			name: "not last block ends with ETB",
			got:  AppendBlock(nil, []byte("x"), false),
			want: func() []byte {
				c := CRC16([]byte{'x', ETB})
				return []byte{DLE, STX, 'x', DLE, ETB, byte(c), byte(c >> 8)}
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, tt.got) })
	}
}

func TestHandshakeParse(t *testing.T) {
	req, err := ParseRequest([]byte("CNV   DE32SR01L01"))
	require.NoError(t, err)
	assert.Equal(t, Request{CommID: "CNV   DE32", Op: OpSend, Revision: 1, Level: 1}, req)

	resp, err := ParseResponse([]byte("01VGT0000001R00L06"))
	require.NoError(t, err)
	assert.Equal(t, Response{Code: ResponseUnknownCommID, CommID: "VGT0000001", Revision: 0, Level: 6}, resp)

	bad := []struct {
		name, text string
		resp       bool
	}{
		{"request too short", "CNV   DE32SR01L0", false},
		{"request bad rev", "CNV   DE32SX01L01", false},
		{"request bad digits", "CNV   DE32SR0xL01", false},
		{"response code not digits", "x1VGT0000001R00L06", true},
		{"response signed code", "+1VGT0000001R00L06", true},
		{"response too long", "00VGT0000001R00L066", true},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.resp {
				_, err = ParseResponse([]byte(tt.text))
			} else {
				_, err = ParseRequest([]byte(tt.text))
			}
			require.ErrorIs(t, err, ErrProtocol)
			var he *HandshakeError
			require.ErrorAs(t, err, &he)
		})
	}
}

func TestSplitBlocks(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		size  int
		sizes []int
	}{
		{"empty gives one empty block", nil, 0, []int{0}},
		{"exact fit", bytes.Repeat([]byte("a"), MaxBlockText), 0, []int{MaxBlockText}},
		{"one over", bytes.Repeat([]byte("a"), MaxBlockText+1), 0, []int{MaxBlockText, 1}},
		{"small size", []byte("abcdefg"), 5, []int{3, 3, 1}},
		{"DLE counts double", []byte{DLE, DLE, 'a'}, 5, []int{1, 2}},
		{"too large size clamps", bytes.Repeat([]byte("a"), 300), 1000, []int{MaxBlockText, 300 - MaxBlockText}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sizes []int
			var joined []byte
			for _, b := range SplitBlocks(tt.data, tt.size) {
				sizes = append(sizes, len(b))
				joined = append(joined, b...)
			}
			assert.Equal(t, tt.sizes, sizes)
			assert.Equal(t, string(tt.data), string(joined))
		})
	}
}

func TestResponseErrorIs(t *testing.T) {
	e := &ResponseError{Code: ResponseUnknownCommID}
	assert.ErrorIs(t, e, ErrCommID)
	assert.ErrorIs(t, e, ErrRefused)
	e2 := &ResponseError{Code: ResponseNoData}
	assert.NotErrorIs(t, e2, ErrCommID)
	assert.ErrorIs(t, e2, ErrRefused)
	assert.Equal(t, "dex: peer answered 04 (no data)", e2.Error())
}

// FuzzBlockRoundTrip: any text framed by AppendBlock decodes back to the
// same text, whatever the chunking of the stream.
func FuzzBlockRoundTrip(f *testing.F) {
	f.Add([]byte("DXS*VGT0000001*VA*V0/6*1\r\n"), true, uint8(3))
	f.Add([]byte{DLE, DLE, SYN, ETX}, false, uint8(1))
	f.Add([]byte{}, true, uint8(0))
	f.Fuzz(func(t *testing.T, text []byte, last bool, chunk uint8) {
		if len(text) > DefaultMaxFrame {
			text = text[:DefaultMaxFrame]
		}
		wire := AppendBlock(nil, text, last)
		var d Decoder
		var frames []Frame
		step := int(chunk) + 1
		for i := 0; i < len(wire); i += step {
			frames = append(frames, d.Feed(wire[i:min(i+step, len(wire))])...)
		}
		if len(frames) != 1 || frames[0].Kind != FrameBlock {
			t.Fatalf("frames %+v for %x", frames, wire)
		}
		if !bytes.Equal(frames[0].Text, text) || frames[0].Last != last {
			t.Fatalf("round trip: got %q last=%v, want %q last=%v", frames[0].Text, frames[0].Last, text, last)
		}
		if d.InFrame() {
			t.Fatal("decoder still in a frame")
		}
	})
}

// FuzzHandshakeRoundTrip: parse(encode(x)) == x for valid messages, and no
// parse panics on arbitrary text.
func FuzzHandshakeRoundTrip(f *testing.F) {
	f.Add("CNV   DE32", byte('S'), uint8(1), uint8(1), uint8(0), []byte("00VGT0000001R00L06"))
	f.Fuzz(func(t *testing.T, id string, op byte, rev, lvl, code uint8, junk []byte) {
		_, _ = ParseRequest(junk)
		_, _ = ParseResponse(junk)
		req := Request{CommID: string(padCommID(id)), Op: op, Revision: int(rev % 100), Level: int(lvl % 100)}
		wire := AppendRequest(nil, req)
		var d Decoder
		fr := d.Feed(wire)
		if len(fr) != 1 || fr[0].Kind != FrameHeader {
			t.Fatalf("request frames %+v", fr)
		}
		got, err := ParseRequest(fr[0].Text)
		if err != nil || got != req {
			t.Fatalf("request round trip %+v → %+v, %v", req, got, err)
		}
		resp := Response{Code: ResponseCode(code % 100), CommID: req.CommID, Revision: req.Revision, Level: req.Level}
		fr = d.Feed(AppendResponse(nil, resp))
		if len(fr) != 1 {
			t.Fatalf("response frames %+v", fr)
		}
		gotR, err := ParseResponse(fr[0].Text)
		if err != nil || gotR != resp {
			t.Fatalf("response round trip %+v → %+v, %v", resp, gotR, err)
		}
	})
}
