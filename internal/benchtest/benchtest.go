// Package benchtest holds what the benchmarks of several packages measure
// alike: time per call and the process's CPU time, for the ratios to a
// baseline of the same run that `make bench` reports.
package benchtest

import (
	"syscall"
	"testing"
	"time"
)

// NsPerOp is the mean time per iteration of b's last run.
func NsPerOp(b *testing.B) float64 {
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

// CPUTime is the user and system CPU time this process has used: in a
// benchmark over bufconn, the caller's and the server's together.
func CPUTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
