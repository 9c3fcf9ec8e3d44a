package evadts

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Paths relative to this package: the repo root is ../.., the shared
// reference folder sits next to the repo (../shared from the root).
const (
	sharedDir = "../../../shared/testdata/evadts"
	goldenDir = "../../testdata/evadts"
)

// sharedFile reads a sample audit from the shared folder or skips the test.
func sharedFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedDir, name))
	if os.IsNotExist(err) {
		t.Skipf("sample %s not available (shared folder %s absent)", name, sharedDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sampleNames lists the audit files in the shared folder or skips.
func sampleNames(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(sharedDir)
	if err != nil {
		t.Skipf("shared sample folder %s absent: %v", sharedDir, err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && e.Name() != "SOURCES.md" {
			names = append(names, e.Name())
		}
	}
	return names
}

// canon returns a copy of r holding only what a round trip through Encode
// must preserve: typed fields and raw records, without positions, the
// stated trailer, issues and truncation, and with events in the order
// Encode writes them (machine events first, then per product group).
func canon(r *Report) *Report {
	c := *r
	c.st = parseState{}
	c.Trailer = Trailer{}
	c.Issues = nil
	c.Truncated = false
	strip := func(s []Segment) []Segment {
		if s == nil {
			return nil
		}
		out := make([]Segment, len(s))
		for i, x := range s {
			out[i] = Segment{ID: x.ID, Elements: x.Elements, Raw: x.Raw}
		}
		return out
	}
	c.Unknown = strip(r.Unknown)
	c.Machine.Other = strip(r.Machine.Other)
	c.Cash.Other = strip(r.Cash.Other)
	c.Events.Other = strip(r.Events.Other)
	c.Cashless = append([]Cashless(nil), r.Cashless...)
	for i := range c.Cashless {
		c.Cashless[i].Other = strip(c.Cashless[i].Other)
	}
	c.Products = append([]Product(nil), r.Products...)
	first := map[string]int{}
	for i := range c.Products {
		c.Products[i].Other = strip(c.Products[i].Other)
		if _, ok := first[c.Products[i].ID]; !ok {
			first[c.Products[i].ID] = i + 1
		}
	}
	c.Events.Timed = append([]TimedEvent(nil), r.Events.Timed...)
	sort.SliceStable(c.Events.Timed, func(i, j int) bool {
		return productRank(first, c.Events.Timed[i].Product) < productRank(first, c.Events.Timed[j].Product)
	})
	c.Events.Counters = append([]EventCounter(nil), r.Events.Counters...)
	sort.SliceStable(c.Events.Counters, func(i, j int) bool {
		return productRank(first, c.Events.Counters[i].Product) < productRank(first, c.Events.Counters[j].Product)
	})
	return &c
}

func productRank(first map[string]int, id string) int {
	if id == "" {
		return 0
	}
	return first[id]
}
