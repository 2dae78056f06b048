package app

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// The Go runtime does not read the container's memory limit, so without
// GOMEMLIMIT a bridge under a backlog grows its heap until the kernel
// kills it. A soft limit below the cgroup's makes the collector work
// harder before that happens.

// memoryLimitShare is the part of the cgroup limit given to the Go heap;
// the rest is for stacks, the embedded server's buffers and the kernel's
// page cache accounting.
const memoryLimitShare = 0.9

// cgroupLimitFiles are read in order: cgroup v2, then v1.
var cgroupLimitFiles = []string{
	"/sys/fs/cgroup/memory.max",
	"/sys/fs/cgroup/memory/memory.limit_in_bytes",
}

// cgroupUnlimited: cgroup v1 reports "no limit" as a huge page-aligned
// number (9223372036854771712 on 64-bit); anything this large is none.
const cgroupUnlimited = 1 << 62

// parseCgroupLimit reads one limit file's content: a byte count, or "max"
// (cgroup v2) for none. ok is false when there is no limit.
func parseCgroupLimit(s string) (limit int64, ok bool, err error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("cgroup memory limit %q: %w", s, err)
	}
	if n <= 0 || n >= cgroupUnlimited {
		return 0, false, nil
	}
	return n, true, nil
}

// cgroupMemoryLimit returns the first limit found in files; a missing file
// is skipped.
func cgroupMemoryLimit(read func(string) ([]byte, error), files []string) (limit int64, from string, err error) {
	for _, f := range files {
		b, err := read(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, "", fmt.Errorf("read %s: %w", f, err)
		}
		n, ok, err := parseCgroupLimit(string(b))
		if err != nil {
			return 0, "", fmt.Errorf("%s: %w", f, err)
		}
		if ok {
			return n, f, nil
		}
		return 0, "", nil // this cgroup version answers: no limit
	}
	return 0, "", nil
}

// softMemoryLimit is the soft limit for a cgroup limit, 0 for none.
func softMemoryLimit(cgroup int64) int64 {
	return int64(float64(cgroup) * memoryLimitShare)
}

var memoryLimitOnce sync.Once

// ApplyMemoryLimit sets the Go runtime's soft memory limit from the
// container's cgroup limit, once per process, unless GOMEMLIMIT is set
// (then the operator's value stands). It returns the limit set, 0 when
// none.
func ApplyMemoryLimit(log *slog.Logger) int64 {
	var set int64
	memoryLimitOnce.Do(func() {
		if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
			log.Debug("memory limit from GOMEMLIMIT", "value", v)
			return
		}
		limit, from, err := cgroupMemoryLimit(os.ReadFile, cgroupLimitFiles)
		if err != nil {
			log.Warn("no soft memory limit: cannot read the container's memory limit", "error", err)
			return
		}
		if limit == 0 {
			return
		}
		set = softMemoryLimit(limit)
		debug.SetMemoryLimit(set)
		log.Info("soft memory limit set from the container's", "limit_bytes", set, "cgroup_limit_bytes", limit, "from", from)
	})
	return set
}
