package mdb

import (
	"bytes"
	"testing"
)

// wordsFrom turns fuzz bytes into 9-bit words: pairs of (mode, data).
func wordsFrom(b []byte) []Word {
	var ws []Word
	for i := 0; i+1 < len(b); i += 2 {
		ws = append(ws, W(b[i+1], b[i]&1 == 1))
	}
	return ws
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte{1, 0x12, 0, 0x12}, uint8(1))
	f.Add([]byte{0, 0x03, 0, 0x00, 0, 0x64, 1, 0x67}, uint8(3))
	f.Add([]byte{1, 0x00, 1, 0xFF, 0, 0xAA, 0, 0x05}, uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, chunk uint8) {
		ws := wordsFrom(raw)
		if chunk == 0 {
			chunk = 1
		}
		for _, dir := range []Direction{FromVMC, FromPeripheral} {
			whole := Framer{Dir: dir}
			all := whole.Feed(ws)
			if fr, ok := whole.Flush(); ok {
				all = append(all, fr)
			}
			split := Framer{Dir: dir}
			var parts []Frame
			for i := 0; i < len(ws); i += int(chunk) {
				parts = append(parts, split.Feed(ws[i:min(i+int(chunk), len(ws))])...)
			}
			if fr, ok := split.Flush(); ok {
				parts = append(parts, fr)
			}
			if len(all) != len(parts) {
				t.Fatalf("%v: chunking changed the frames: %d vs %d", dir, len(all), len(parts))
			}
			for i, fr := range all {
				if fr.Kind != parts[i].Kind || !bytes.Equal(fr.Data, parts[i].Data) || (fr.Err == nil) != (parts[i].Err == nil) {
					t.Fatalf("%v: frame %d differs: %v vs %v", dir, i, fr, parts[i])
				}
				if len(fr.Data)+1 > MaxBlock && fr.Err == nil {
					t.Fatalf("over-long block accepted: %v", fr)
				}
				if fr.Err == nil {
					// A good frame re-encodes and frames again to itself.
					re := Framer{Dir: dir}
					got := re.Feed(fr.Encode(nil))
					if g, ok := re.Flush(); ok {
						got = append(got, g)
					}
					if len(got) != 1 || got[0].Kind != fr.Kind || !bytes.Equal(got[0].Data, fr.Data) || got[0].Err != nil {
						t.Fatalf("round trip of %v gave %v", fr, got)
					}
				}
			}
		}
	})
}

func FuzzParmrk(f *testing.F) {
	f.Add([]byte{0xFF, 0x00, 0x00})
	f.Add([]byte{0xFF, 0xFF, 0x05, 0xFF, 0x00, 0x04})
	f.Add([]byte{0x34, 0x01, 0x2F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x62})
	f.Add([]byte{0xFF, 0x07})
	f.Fuzz(func(t *testing.T, raw []byte) {
		// Decoding arbitrary bytes never panics and is chunking-independent.
		var d1, d2 ParmrkDecoder
		w1, err1 := d1.Decode(nil, raw)
		var w2 []Word
		var err2 error
		for i := range raw {
			var err error
			w2, err = d2.Decode(w2, raw[i:i+1])
			if err2 == nil {
				err2 = err
			}
		}
		if !equalWords(w1, w2) || (err1 == nil) != (err2 == nil) {
			t.Fatalf("chunking changed the result")
		}
		if err1 == nil && !d1.Pending() && !bytes.Equal(AppendParmrk(nil, w1), raw) {
			t.Fatalf("valid stream does not re-encode to itself")
		}
		// Encoding arbitrary words decodes back to them.
		ws := wordsFrom(raw)
		var d3 ParmrkDecoder
		back, err := d3.Decode(nil, AppendParmrk(nil, ws))
		if err != nil || !equalWords(back, ws) || d3.Pending() {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

func equalWords(a, b []Word) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzParseWords(f *testing.F) {
	f.Add("112 012")
	f.Add("12* 0x1FF 0AA,00")
	f.Add("112* zz")
	f.Fuzz(func(t *testing.T, s string) {
		ws, err := ParseWords(s)
		if err != nil {
			return
		}
		back, err := ParseWords(FormatWords(ws))
		if err != nil || !equalWords(back, ws) {
			t.Fatalf("format round trip failed for %q", s)
		}
	})
}
