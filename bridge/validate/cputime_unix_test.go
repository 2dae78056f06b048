//go:build unix

package validate

import (
	"syscall"
	"time"
)

// cpuTime is the process's CPU time so far (user and system), for
// benchmarks on a shared machine, where wall time also counts the time
// other processes held the core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
