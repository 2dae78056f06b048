package bridge

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Backoff is an exponential delay with full jitter, so that many clients
// reconnecting after one outage do not hammer the broker in lockstep.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	attempt int
}

// Next returns the delay before the next attempt.
func (b *Backoff) Next() time.Duration {
	initial, max := b.Initial, b.Max
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if max <= 0 {
		max = 10 * time.Second
	}
	d := initial << min(b.attempt, 30)
	if d <= 0 || d > max {
		d = max
	}
	b.attempt++
	// Half fixed, half random: never zero, never in lockstep.
	return d/2 + rand.N(d/2+1)
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
