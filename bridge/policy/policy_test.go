package policy

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// burstSource submits n events as fast as intake takes them.
type burstSource struct{ n int }

func (b burstSource) Run(ctx context.Context, in bridge.Intake) error {
	for i := range b.n {
		if err := in.Submit(ctx, &bridge.Envelope{ID: string(rune('a' + i%26)), Partner: "p"}, func(error) {}); err != nil {
			return err
		}
	}
	return nil
}

type countIntake struct{ n atomic.Int64 }

func (c *countIntake) Submit(_ context.Context, _ *bridge.Envelope, done func(error)) error {
	c.n.Add(1)
	done(nil)
	return nil
}

func TestRateLimitThrottlesWithoutLoss(t *testing.T) {
	const n, perSecond, burst = 60, 200.0, 10
	var throttled atomic.Int64
	src := NewRateLimited(burstSource{n: n}, perSecond, burst, func(*bridge.Envelope) { throttled.Add(1) })
	in := &countIntake{}
	start := time.Now()
	if err := src.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if in.n.Load() != n {
		t.Fatalf("%d of %d events reached intake", in.n.Load(), n)
	}
	// The first burst passes at once; later events wait for a token (a
	// late timer may leave one ready, so not every one of them waits).
	if got := throttled.Load(); got < 1 || got > n-burst {
		t.Fatalf("throttled %d, want 1..%d", got, n-burst)
	}
	// (n-burst) tokens at perSecond take at least this long; a lower bound
	// only, so a slow machine cannot make it fail.
	if min := time.Duration(float64(n-burst-1) / perSecond * float64(time.Second)); elapsed < min {
		t.Fatalf("took %v, a limit of %v/s needs at least %v", elapsed, perSecond, min)
	}
	if NewRateLimited(burstSource{}, 0, 0, nil) == nil {
		t.Fatal("unlimited wrap")
	}
}

func TestRateLimitWaitEndsWithContext(t *testing.T) {
	src := NewRateLimited(burstSource{n: 5}, 0.001, 1, nil)
	in := &countIntake{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := src.Run(ctx, in)
	if err == nil || in.n.Load() != 1 {
		t.Fatalf("err %v, submitted %d; want a context error after the single burst token", err, in.n.Load())
	}
}
