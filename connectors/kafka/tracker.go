package kafka

import (
	"sync"
)

// tp names one partition of one topic.
type tp struct {
	topic     string
	partition int
}

// Record states in the tracker.
const (
	recPending uint8 = iota
	recStored
	recFailed
)

type record struct {
	offset int64
	state  uint8
}

// partTrack holds one partition's records in fetch order.
type partTrack struct {
	queue []*record
	// ready is the highest offset all of whose predecessors in fetch order
	// are stored; -1 when nothing new is committable.
	ready int64
	// committed is the highest offset committed by this tracker, -1 none.
	committed int64
}

// tracker decides which offsets may be committed. Records enter in fetch
// order and are settled in any order; per partition only the highest
// offset whose every predecessor (in fetch order) is stored becomes
// committable. A failed record stays at its queue's head for good, so no
// offset at or after it is committed by this tracker: the source replaces
// the reader (and the tracker), and Kafka hands the record out again from
// the last committed offset.
//
// Fetch order and offset order differ only after a rebalance re-fetches
// from the committed offset; the committable offset is then the largest
// stored offset of the prefix, which is safe because everything fetched
// before it, including the lower re-fetched offsets, is stored too.
type tracker struct {
	mu       sync.Mutex
	parts    map[tp]*partTrack
	pending  int
	failed   bool
	settled  chan struct{} // signalled on every settle
	stored   int64
	failures int64
}

func newTracker() *tracker {
	return &tracker{parts: map[tp]*partTrack{}, settled: make(chan struct{}, 1)}
}

// add registers a fetched record before it is handed to the pipeline.
func (t *tracker) add(topic string, partition int, offset int64) *record {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := tp{topic, partition}
	p := t.parts[k]
	if p == nil {
		p = &partTrack{ready: -1, committed: -1}
		t.parts[k] = p
	}
	r := &record{offset: offset}
	p.queue = append(p.queue, r)
	t.pending++
	return r
}

// settle records r's outcome and reports whether it was the first
// failure of this tracker.
func (t *tracker) settle(topic string, partition int, r *record, stored bool) (firstFailure bool) {
	t.mu.Lock()
	if r.state != recPending {
		t.mu.Unlock()
		return false
	}
	t.pending--
	if stored {
		r.state = recStored
		t.stored++
	} else {
		r.state = recFailed
		t.failures++
		firstFailure = !t.failed
		t.failed = true
	}
	p := t.parts[tp{topic, partition}]
	n := 0
	for _, q := range p.queue {
		if q.state != recStored {
			break
		}
		if q.offset > p.ready {
			p.ready = q.offset
		}
		n++
	}
	if n > 0 {
		clear(p.queue[:n])
		p.queue = p.queue[n:]
	}
	t.mu.Unlock()
	select {
	case t.settled <- struct{}{}:
	default:
	}
	return firstFailure
}

// committable returns, per partition, the offset of the last record to
// commit (Kafka's committed offset becomes that plus one), only where it
// moves past what this tracker committed before.
func (t *tracker) committable() map[tp]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out map[tp]int64
	for k, p := range t.parts {
		if p.ready > p.committed {
			if out == nil {
				out = map[tp]int64{}
			}
			out[k] = p.ready
		}
	}
	return out
}

// committed marks offsets as committed.
func (t *tracker) committed(offsets map[tp]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, off := range offsets {
		if p := t.parts[k]; p != nil && off > p.committed {
			p.committed = off
		}
	}
}

// pendingCount counts records handed to the pipeline and not yet settled.
func (t *tracker) pendingCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending
}

func (t *tracker) hasFailed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *tracker) storedCount() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stored
}
