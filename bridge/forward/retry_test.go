package forward

import (
	"testing"
	"time"
)

func TestRetryDelayBounds(t *testing.T) {
	p := retryPolicy{Initial: 100 * time.Millisecond, Max: 2 * time.Second, MaxAttempts: 8}
	cases := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{5, 800 * time.Millisecond, 1600 * time.Millisecond},
		{6, time.Second, 2 * time.Second}, // capped
		{60, time.Second, 2 * time.Second},
		{1000, time.Second, 2 * time.Second}, // no overflow
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tc := range cases {
		low, high := p, p
		low.jitter = func(int64) int64 { return 0 }
		high.jitter = func(n int64) int64 { return n }
		if got := low.Delay(tc.attempt); got != tc.min {
			t.Errorf("attempt %d, no jitter: %v, want %v", tc.attempt, got, tc.min)
		}
		if got := high.Delay(tc.attempt); got != tc.max {
			t.Errorf("attempt %d, full jitter: %v, want %v", tc.attempt, got, tc.max)
		}
		for range 50 {
			if got := p.Delay(tc.attempt); got < tc.min || got > tc.max {
				t.Fatalf("attempt %d: %v outside [%v, %v]", tc.attempt, got, tc.min, tc.max)
			}
		}
	}
}

func TestRetryDelayIsJittered(t *testing.T) {
	p := retryPolicy{Initial: time.Second, Max: time.Minute}
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[p.Delay(4)] = true
	}
	if len(seen) < 5 {
		t.Fatalf("20 delays gave only %d distinct values: no jitter", len(seen))
	}
}

func TestRetryExhausted(t *testing.T) {
	cases := []struct {
		max, attempt int
		want         bool
	}{
		{3, 1, false}, {3, 2, false}, {3, 3, true}, {3, 4, true},
		{1, 1, true},
		{-1, 1000000, false},
		{0, 1000000, false},
	}
	for _, tc := range cases {
		if got := (retryPolicy{MaxAttempts: tc.max}).Exhausted(tc.attempt); got != tc.want {
			t.Errorf("max %d attempt %d: %v, want %v", tc.max, tc.attempt, got, tc.want)
		}
	}
}
