package evadts

import (
	"bytes"
	"testing"
)

// BenchmarkParse parses a ~1 MB concatenation of the sample audits (full
// typed parse including the G85 CRC).
func BenchmarkParse(b *testing.B) {
	var one []byte
	for _, n := range sampleNames(b) {
		one = append(one, sharedFile(b, n)...)
		one = append(one, '\n')
	}
	var all []byte
	for len(all) < 1<<20 {
		all = append(all, one...)
	}
	b.SetBytes(int64(len(all)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(all)); err == nil {
			b.Fatal("samples include truncated audits: expected an error")
		}
	}
}

// BenchmarkReader measures the segment reader alone on the same input.
func BenchmarkReader(b *testing.B) {
	var one []byte
	for _, n := range sampleNames(b) {
		one = append(one, sharedFile(b, n)...)
		one = append(one, '\n')
	}
	var all []byte
	for len(all) < 1<<20 {
		all = append(all, one...)
	}
	b.SetBytes(int64(len(all)))
	b.ReportAllocs()
	for b.Loop() {
		rd := NewReader(bytes.NewReader(all))
		for {
			if _, err := rd.Read(); err != nil && err.Error() == "EOF" {
				break
			}
		}
	}
}
