package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestLatencyBucketBounds(t *testing.T) {
	for _, us := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 12345, 1 << 20, 600_000_000, 1<<63 - 1} {
		b := latencyBucket(us)
		if b < 0 || b >= latencyBuckets {
			t.Fatalf("bucket(%d) = %d, outside 0..%d", us, b, latencyBuckets)
		}
		lo := latencyLow(b)
		if lo > us {
			t.Fatalf("bucket(%d) starts at %d, above the value", us, lo)
		}
		if b+1 < latencyBuckets && latencyLow(b+1) <= us {
			t.Fatalf("bucket(%d) = %d, but the next bucket starts at %d", us, b, latencyLow(b+1))
		}
		if us >= 64 && float64(us-lo) > float64(us)/64 {
			t.Fatalf("bucket(%d) starts at %d: more than 1/64 below", us, lo)
		}
	}
}

// TestLatencyQuantilesMatchSorting compares the histogram's quantiles with
// those of the sorted values, which the bench used to keep.
func TestLatencyQuantilesMatchSorting(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h latencyHistogram
	var all []time.Duration
	for range 100_000 {
		d := time.Duration(r.ExpFloat64() * float64(20*time.Millisecond))
		all = append(all, d)
		h.record(d)
	}
	slices.Sort(all)
	qs := []float64{0.5, 0.99, 0.999}
	got := h.quantiles(qs...)
	for i, q := range qs {
		want := float64(all[int(q*float64(len(all)))].Microseconds()) / 1e3
		if got[i] > want || got[i] < want*(1-1.0/64)-0.001 {
			t.Errorf("q%.3f = %.3f ms, sorted values give %.3f ms", q, got[i], want)
		}
	}
	h.reset()
	if got := h.quantiles(0.5); got[0] != 0 {
		t.Fatalf("after reset p50 = %v", got[0])
	}
}
