package bridge

import (
	"log/slog"
	"sync"
	"time"
)

// DeadLetterLog is an Observer that logs one line per dead letter with its
// partner, reason, event id and type, and never the payload or the
// rejection's detail, which may quote the payload. Per reason, at most
// Burst lines are written per Interval; the rest are counted and reported
// in one "suppressed" line when the reason's next interval begins, or on
// Flush, so a flood of bad events cannot fill the log.
type DeadLetterLog struct {
	log      *slog.Logger
	burst    int
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	reasons map[string]*dlWindow
}

type dlWindow struct {
	start      time.Time
	logged     int
	suppressed int
}

// Defaults of NewDeadLetterLog: ten lines per reason per minute.
const (
	DeadLetterLogBurst    = 10
	DeadLetterLogInterval = time.Minute
)

// NewDeadLetterLog logs to log at warn level with the default limits.
func NewDeadLetterLog(log *slog.Logger) *DeadLetterLog {
	return NewDeadLetterLogLimited(log, DeadLetterLogBurst, DeadLetterLogInterval, time.Now)
}

// NewDeadLetterLogLimited is NewDeadLetterLog with explicit limits and
// clock (tests).
func NewDeadLetterLogLimited(log *slog.Logger, burst int, interval time.Duration, now func() time.Time) *DeadLetterLog {
	return &DeadLetterLog{log: log, burst: max(1, burst), interval: interval, now: now, reasons: map[string]*dlWindow{}}
}

func (d *DeadLetterLog) DeadLettered(env *Envelope, r *Rejection) {
	reason := ReasonUnhandled
	if r != nil {
		reason = r.Reason
	}
	now := d.now()
	d.mu.Lock()
	w, ok := d.reasons[reason]
	if !ok {
		w = &dlWindow{start: now}
		d.reasons[reason] = w
	}
	var suppressed int
	if now.Sub(w.start) >= d.interval {
		suppressed = w.suppressed
		*w = dlWindow{start: now}
	}
	write := w.logged < d.burst
	if write {
		w.logged++
	} else {
		w.suppressed++
	}
	d.mu.Unlock()
	if suppressed > 0 {
		d.logSuppressed(reason, suppressed)
	}
	if write {
		d.log.Warn("event dead-lettered", "partner", env.Partner, "reason", reason,
			"id", env.ID, "event_type", env.EventType, "attempt", env.Attempt)
	}
}

// Flush writes the pending "suppressed" lines, e.g. at shutdown.
func (d *DeadLetterLog) Flush() {
	d.mu.Lock()
	pending := map[string]int{}
	for reason, w := range d.reasons {
		if w.suppressed > 0 {
			pending[reason] = w.suppressed
			w.suppressed = 0
		}
	}
	d.mu.Unlock()
	for reason, n := range pending {
		d.logSuppressed(reason, n)
	}
}

func (d *DeadLetterLog) logSuppressed(reason string, n int) {
	d.log.Warn("dead letters not logged one by one", "reason", reason, "suppressed", n,
		"limit", d.burst, "per", d.interval.String(), "hint", "dmzbridge dlq stats")
}

func (d *DeadLetterLog) Received(*Envelope)                 {}
func (d *DeadLetterLog) Stored(*Envelope)                   {}
func (d *DeadLetterLog) Forwarded(*Envelope, time.Duration) {}
func (d *DeadLetterLog) ForwardFailed(*Envelope, error)     {}
