package forward

import (
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// retryPolicy decides, per partner, how long the forwarder waits before an
// event the ERP sink did not confirm is delivered again, and when it gives
// up and dead-letters it.
type retryPolicy struct {
	Initial time.Duration
	Max     time.Duration
	// MaxAttempts counts deliveries, the first included; -1 is unlimited.
	MaxAttempts int
	// jitter returns a uniform value in [0, n]; nil uses math/rand.
	jitter func(n int64) int64
}

// newRetryPolicy converts the config's retry settings.
func newRetryPolicy(r config.Retry) retryPolicy {
	return retryPolicy{Initial: r.InitialDelay, Max: r.MaxDelay, MaxAttempts: r.MaxAttempts}
}

// Exhausted reports whether an event that failed on its attempt-th
// delivery must be dead-lettered instead of retried.
func (p retryPolicy) Exhausted(attempt int) bool {
	return p.MaxAttempts > 0 && attempt >= p.MaxAttempts
}

// Delay is the wait after the attempt-th failed delivery (1-based):
// Initial·2^(attempt-1), capped at Max, with equal jitter (bridge.ExpDelay).
func (p retryPolicy) Delay(attempt int) time.Duration {
	initial, maxDelay := p.Initial, p.Max
	if initial <= 0 {
		initial = time.Second
	}
	if maxDelay <= 0 {
		maxDelay = config.DefaultRetryMaxDelay
	}
	return bridge.ExpDelay(initial, maxDelay, attempt-1, p.jitter)
}
