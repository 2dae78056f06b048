package bridge

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// ExpDelay is initial·2^attempt (0-based), capped at maxDelay, of which the
// upper half is random ("equal jitter"). It is the one backoff of the
// bridge: reconnect loops (Backoff) and the forwarder's redelivery delays
// (forward's retry policy) both use it. The random half spreads clients or events
// that failed together, so a recovering broker or ERP is not hit by all of
// them at once; the fixed half keeps the delay from collapsing to zero, as
// full jitter can, which would turn a reconnect loop into a busy loop.
// jitter returns a uniform value in [0, n]; nil uses math/rand.
func ExpDelay(initial, maxDelay time.Duration, attempt int, jitter func(n int64) int64) time.Duration {
	if initial > maxDelay {
		initial = maxDelay
	}
	shift := max(attempt, 0)
	d := maxDelay
	if shift < 62 && initial <= maxDelay>>shift {
		d = initial << shift
	}
	if jitter == nil {
		jitter = func(n int64) int64 { return rand.Int64N(n + 1) }
	}
	half := d / 2
	return d - half + time.Duration(jitter(int64(half)))
}

// Backoff is an exponential delay with equal jitter (see ExpDelay) for
// loops that reconnect or retry a step until it succeeds.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	attempt int
}

// Next returns the delay before the next attempt.
func (b *Backoff) Next() time.Duration {
	initial, maxDelay := b.Initial, b.Max
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 10 * time.Second
	}
	d := ExpDelay(initial, maxDelay, b.attempt, nil)
	if b.attempt < 62 {
		b.attempt++
	}
	return d
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Sleep waits d or until ctx is done; it reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Retry calls fn until it succeeds or ctx ends, logging each failure with
// what was attempted. It is for startup steps such as connecting to a
// broker that is not up yet: reported and retried, never a crash loop.
func Retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	b := Backoff{Initial: 200 * time.Millisecond, Max: 15 * time.Second}
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		d := b.Next()
		log.Warn("retrying", "what", what, "err", err, "in", d.Round(time.Millisecond))
		if !Sleep(ctx, d) {
			return err
		}
	}
}
