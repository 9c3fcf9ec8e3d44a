package dex

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type frameSummary struct {
	Kind FrameKind
	Text string
	Last bool
}

func summarise(fs []Frame) []frameSummary {
	var out []frameSummary
	for _, f := range fs {
		out = append(out, frameSummary{f.Kind, string(f.Text), f.Last})
	}
	return out
}

func TestDecoder(t *testing.T) {
	block := AppendBlock(nil, []byte("PA1*1*100\r\n"), false)
	last := AppendBlock(nil, []byte("DXE*1*1\r\n"), true)
	header := AppendRequest(nil, Request{CommID: "1234567890", Op: OpRead, Level: 6})
	corrupt := append([]byte(nil), block...)
	corrupt[5] ^= 0x20
	tests := []struct {
		name string
		in   []byte
		want []frameSummary
		bad  []error // causes of FrameBad frames, in order
	}{
		{"control characters", []byte{ENQ, EOT, NAK, DLE, '0', DLE, '1', DLE, ';', DLE, '<', DLE, EOT},
			[]frameSummary{{Kind: FrameENQ}, {Kind: FrameEOT}, {Kind: FrameNAK}, {Kind: FrameACK0}, {Kind: FrameACK1}, {Kind: FrameWACK}, {Kind: FrameRVI}, {Kind: FrameEOT}}, nil},
		{"header", header, []frameSummary{{FrameHeader, "1234567890RR00L06", false}}, nil},
		{"blocks", append(append([]byte{}, block...), last...),
			[]frameSummary{{FrameBlock, "PA1*1*100\r\n", false}, {FrameBlock, "DXE*1*1\r\n", true}}, nil},
		{"noise skipped", append([]byte("\xff\x00abc\x10z"), last...), []frameSummary{{FrameBlock, "DXE*1*1\r\n", true}}, nil},
		{"DLE SYN fill ignored", func() []byte {
			b := AppendBlock(nil, []byte("AB"), true)
			return append(append(append([]byte{}, b[:3]...), DLE, SYN), b[3:]...)
		}(), []frameSummary{{FrameBlock, "AB", true}}, nil},
		{"bad CRC then resync", append(append([]byte{}, corrupt...), last...),
			[]frameSummary{{Kind: FrameBad}, {FrameBlock, "DXE*1*1\r\n", true}}, []error{ErrBadCRC}},
		{"invalid DLE sequence in text", append([]byte{DLE, STX, 'a', DLE, 'x'}, last...),
			[]frameSummary{{Kind: FrameBad}, {FrameBlock, "DXE*1*1\r\n", true}}, []error{ErrFraming}},
		{"new frame inside a frame", append([]byte{DLE, STX, 'a', 'b'}, last...),
			[]frameSummary{{Kind: FrameBad}, {FrameBlock, "DXE*1*1\r\n", true}}, []error{ErrFraming}},
		{"header closed by ETB", []byte{DLE, SOH, 'a', DLE, ETB, 0, 0},
			[]frameSummary{{Kind: FrameBad}}, []error{ErrFraming}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, then byte by byte: the result must not depend on chunking.
			for _, step := range []int{len(tt.in), 1, 3} {
				var d Decoder
				var got []Frame
				for i := 0; i < len(tt.in); i += step {
					got = append(got, d.Feed(tt.in[i:min(i+step, len(tt.in))])...)
				}
				assert.Equal(t, tt.want, summarise(got), "chunk %d", step)
				var causes []error
				for _, f := range got {
					if f.Kind == FrameBad {
						var fe *FrameError
						require.ErrorAs(t, f.Err, &fe)
						causes = append(causes, fe.Err)
					}
				}
				assert.Equal(t, tt.bad, causes)
			}
		})
	}
}

func TestDecoderLimitsAndAbort(t *testing.T) {
	d := Decoder{MaxFrame: 8}
	fs := d.Feed(append([]byte{DLE, STX}, bytes.Repeat([]byte("x"), 20)...))
	require.Len(t, fs, 1)
	assert.ErrorIs(t, fs[0].Err, ErrFrameTooLong)
	assert.False(t, d.InFrame(), "resynchronises after an overlong frame")

	d.Feed([]byte{DLE, STX, 'a'})
	require.True(t, d.InFrame())
	f, ok := d.Abort()
	require.True(t, ok)
	assert.ErrorIs(t, f.Err, ErrFraming)
	var fe *FrameError
	require.ErrorAs(t, f.Err, &fe)
	assert.Equal(t, int64(22), fe.Offset)
	_, ok = d.Abort()
	assert.False(t, ok)

	d.Feed([]byte{DLE, STX, 'a'})
	d.Reset()
	assert.False(t, d.InFrame())
}

// FuzzDecoder: arbitrary input in arbitrary chunks never panics and yields
// the same frames as feeding it whole.
func FuzzDecoder(f *testing.F) {
	f.Add(AppendBlock(nil, []byte("PA1*1\r\n"), true), uint8(1))
	f.Add(append([]byte{ENQ, DLE, '0', DLE, SOH}, AppendRequest(nil, Request{CommID: "1234567890", Op: 'R'})...), uint8(2))
	f.Add([]byte{DLE, STX, DLE, DLE, DLE, SYN, DLE, ETX, 0, 0}, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		var whole Decoder
		want := summarise(append([]Frame(nil), whole.Feed(in)...))
		var d Decoder
		var got []Frame
		step := int(chunk%16) + 1
		for i := 0; i < len(in); i += step {
			got = append(got, d.Feed(in[i:min(i+step, len(in))])...)
		}
		if !assert.ObjectsAreEqual(want, summarise(got)) {
			t.Fatalf("chunked %v != whole %v", summarise(got), want)
		}
		for _, fr := range got {
			if fr.Kind == FrameBad && fr.Err == nil {
				t.Fatal("bad frame without error")
			}
			if (fr.Kind == FrameBlock || fr.Kind == FrameHeader) && len(fr.Text) > DefaultMaxFrame {
				t.Fatal("frame over the limit")
			}
		}
	})
}
