// Package proccpu reads how much CPU and how many read/write system calls this
// process has used, for benchmarks that report them per operation: on a
// machine shared with other jobs, CPU time per operation moves far less than
// wall time does. Standard library only; Linux-specific counters degrade to
// "unknown" elsewhere.
package proccpu

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Used returns the CPU time (user plus system) the process has used so far;
// zero when the system cannot tell.
func Used() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Syscalls returns the read and write system calls the process has made so
// far (syscr and syscw of /proc/self/io); ok is false when that file cannot
// be read (not Linux, or a restricted /proc).
func Syscalls() (reads, writes int64, ok bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "syscr":
			reads, _ = strconv.ParseInt(v, 10, 64)
			ok = true
		case "syscw":
			writes, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return reads, writes, ok
}
