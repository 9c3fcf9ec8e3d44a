package evadts

import (
	"bytes"
	"testing"
)

// BenchmarkParse parses a ~1 MB concatenation of the sample audits (full
// typed parse including the G85 CRC).
func BenchmarkParse(b *testing.B) {
	all := benchInput(b)
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
	all := benchInput(b)
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

// benchInput is the BenchmarkParse input: the samples concatenated and
// repeated to at least 1 MiB.
func benchInput(b *testing.B) []byte {
	var one []byte
	for _, n := range sampleNames(b) {
		one = append(one, sharedFile(b, n)...)
		one = append(one, '\n')
	}
	var all []byte
	for len(all) < 1<<20 {
		all = append(all, one...)
	}
	return all
}

// BenchmarkIndex builds the View of the BenchmarkParse input and validates
// every audit (G85 CRC and SE count): the ingest fast path.
func BenchmarkIndex(b *testing.B) {
	all := benchInput(b)
	b.SetBytes(int64(len(all)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := Index(all)
		if err == nil {
			b.Fatal("samples include truncated audits: expected an error")
		}
		for a := range v.Audits() {
			_ = a.Validate()
		}
	}
}

// BenchmarkIndexReports builds the full typed reports through the View
// (Index + Reports), the counterpart of BenchmarkParse.
func BenchmarkIndexReports(b *testing.B) {
	all := benchInput(b)
	b.SetBytes(int64(len(all)))
	b.ReportAllocs()
	for b.Loop() {
		v, _ := Index(all)
		if _, err := v.Reports(); err == nil {
			b.Fatal("samples include truncated audits: expected an error")
		}
	}
}
