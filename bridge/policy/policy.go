// Package policy enforces per-partner intake policy: a rate limit that
// throttles (never drops). The identity rule is checked by the validation
// stage, on the same read of the payload as the other checks.
package policy

import (
	"context"
	"fmt"

	"golang.org/x/time/rate"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// RateLimited wraps a partner's source so that every Submit first waits for
// a token from the partner's bucket. Waiting holds the source's delivery,
// which is how the partner's broker sees backpressure; nothing is dropped.
// When ctx ends while waiting, Submit returns the error and the source
// leaves the message to its broker's redelivery.
type RateLimited struct {
	bridge.Source
	Limiter *rate.Limiter
	// OnThrottle is called for each event that had to wait.
	OnThrottle func(env *bridge.Envelope)
}

// NewRateLimited wraps src; perSecond <= 0 returns src unchanged.
func NewRateLimited(src bridge.Source, perSecond float64, burst int, onThrottle func(*bridge.Envelope)) bridge.Source {
	if perSecond <= 0 {
		return src
	}
	return &RateLimited{Source: src, Limiter: rate.NewLimiter(rate.Limit(perSecond), max(burst, 1)), OnThrottle: onThrottle}
}

// Run implements bridge.Source.
func (r *RateLimited) Run(ctx context.Context, in bridge.Intake) error {
	return r.Source.Run(ctx, &limitedIntake{next: in, r: r})
}

// State forwards the wrapped source's state.
func (r *RateLimited) State() string {
	if sr, ok := r.Source.(bridge.StateReporter); ok {
		return sr.State()
	}
	return bridge.StateUp
}

type limitedIntake struct {
	next bridge.Intake
	r    *RateLimited
}

func (l *limitedIntake) Submit(ctx context.Context, env *bridge.Envelope, done func(error)) error {
	res := l.r.Limiter.Reserve()
	if d := res.Delay(); d > 0 {
		if l.r.OnThrottle != nil {
			l.r.OnThrottle(env)
		}
		if !bridge.Sleep(ctx, d) {
			res.Cancel()
			return fmt.Errorf("rate limit wait: %w", ctx.Err())
		}
	}
	return l.next.Submit(ctx, env, done)
}
