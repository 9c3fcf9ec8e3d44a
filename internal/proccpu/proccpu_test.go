package proccpu

import (
	"os"
	"testing"
)

func TestUsedGrowsWithWork(t *testing.T) {
	before := Used()
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	if x == 0 {
		t.Fatal("work optimised away")
	}
	if after := Used(); after <= before {
		t.Fatalf("CPU used did not grow: %v -> %v", before, after)
	}
}

func TestSyscallsCountWrites(t *testing.T) {
	r0, w0, ok := Syscalls()
	if !ok {
		t.Skip("/proc/self/io not readable here")
	}
	f, err := os.CreateTemp(t.TempDir(), "w")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 10 {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	r1, w1, _ := Syscalls()
	if w1-w0 < 10 || r1 < r0 {
		t.Fatalf("syscalls: reads %d -> %d, writes %d -> %d (want >= 10 more writes)", r0, r1, w0, w1)
	}
}
