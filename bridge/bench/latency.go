package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// latencyHistogram counts durations in buckets of about 1.6 % width
// (64 per power of two of microseconds), so recording costs an atomic add
// and its memory is fixed: a slice of every latency would be tens of MB in
// the very heap whose peak the bench reports.
type latencyHistogram struct {
	counts [latencyBuckets]atomic.Int64
}

const (
	latencySubBits = 6 // 64 buckets per power of two
	latencyBuckets = (64 - latencySubBits + 1) << latencySubBits
)

// latencyBucket maps microseconds to a bucket: values below 64 get one
// each; above, the power of two picks the group and the next six bits the
// bucket within it.
func latencyBucket(us uint64) int {
	if us < 1<<latencySubBits {
		return int(us)
	}
	exp := bits.Len64(us) - 1 - latencySubBits
	return (exp+1)<<latencySubBits | int(us>>exp)&(1<<latencySubBits-1)
}

// latencyLow is the smallest value in bucket b, the inverse of latencyBucket.
func latencyLow(b int) uint64 {
	group, sub := b>>latencySubBits, uint64(b&(1<<latencySubBits-1))
	if group == 0 {
		return sub
	}
	return (1<<latencySubBits | sub) << (group - 1)
}

func (h *latencyHistogram) record(d time.Duration) {
	us := max(d.Microseconds(), 0)
	h.counts[latencyBucket(uint64(us))].Add(1)
}

func (h *latencyHistogram) reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
}

// quantiles returns the lower bound of the bucket holding each quantile,
// in milliseconds: at most 1.6 % below the true value.
func (h *latencyHistogram) quantiles(qs ...float64) []float64 {
	var snap [latencyBuckets]int64
	var total int64
	for i := range h.counts {
		snap[i] = h.counts[i].Load()
		total += snap[i]
	}
	out := make([]float64, len(qs))
	if total == 0 {
		return out
	}
	for k, q := range qs {
		rank := min(int64(q*float64(total)), total-1) // 0-based, as sorting would give
		var seen int64
		for b, c := range snap {
			seen += c
			if seen > rank {
				out[k] = float64(latencyLow(b)) / 1e3
				break
			}
		}
	}
	return out
}
