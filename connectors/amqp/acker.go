package amqp

import (
	"log/slog"
	"sync"
	"time"
)

// acker settles one channel's deliveries. Outcomes arrive from any goroutine
// in any order; the acker nacks failures at once (with requeue) and
// acknowledges successes as the highest contiguous settled delivery tag
// with multiple=true, so a burst of PubAcks becomes one basic.ack. A
// delivery whose outcome is still open holds back the acks behind it: the
// broker counts those against the prefetch window, never loses them.
type acker struct {
	ch  channelAcker
	log *slog.Logger

	mu      sync.Mutex
	order   []uint64         // outstanding tags in delivery order
	status  map[uint64]uint8 // tag -> tagPending | tagOK
	results []outcome
	closed  bool
	notify  chan struct{}
}

type outcome struct {
	tag uint64
	ok  bool
}

const (
	tagPending uint8 = iota
	tagOK
	tagGone // nacked: no longer outstanding on the broker
)

// channelAcker is the part of *amqp.Channel the acker uses.
type channelAcker interface {
	Ack(tag uint64, multiple bool) error
	Nack(tag uint64, multiple, requeue bool) error
}

func newAcker(ch channelAcker, window int, log *slog.Logger) *acker {
	return &acker{
		ch: ch, log: log,
		order:  make([]uint64, 0, window),
		status: make(map[uint64]uint8, window),
		notify: make(chan struct{}, 1),
	}
}

// add registers a delivery before it is handed to the pipeline.
func (a *acker) add(tag uint64) {
	a.mu.Lock()
	a.order = append(a.order, tag)
	a.status[tag] = tagPending
	a.mu.Unlock()
}

// settle records a delivery's outcome. After close it is ignored: the
// channel is gone and the broker has requeued the delivery.
func (a *acker) settle(tag uint64, ok bool) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.results = append(a.results, outcome{tag, ok})
	a.mu.Unlock()
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// run applies outcomes until close.
func (a *acker) run() {
	for range a.notify {
		a.mu.Lock()
		results := a.results
		a.results = nil
		closed := a.closed
		var nacks []uint64
		for _, r := range results {
			if _, known := a.status[r.tag]; !known {
				continue
			}
			if r.ok {
				a.status[r.tag] = tagOK
			} else {
				a.status[r.tag] = tagGone
				nacks = append(nacks, r.tag)
			}
		}
		var ackUpTo uint64
		n := 0
		for _, tag := range a.order {
			st := a.status[tag]
			if st == tagPending {
				break
			}
			if st == tagOK {
				ackUpTo = tag
			}
			delete(a.status, tag)
			n++
		}
		a.order = append(a.order[:0], a.order[n:]...)
		a.mu.Unlock()

		for _, tag := range nacks {
			if err := a.ch.Nack(tag, false, true); err != nil {
				a.log.Debug("nack failed; the broker requeues on channel loss", "tag", tag, "err", err)
			}
		}
		if ackUpTo > 0 {
			if err := a.ch.Ack(ackUpTo, true); err != nil {
				a.log.Debug("ack failed; the redelivered copies are deduplicated", "tag", ackUpTo, "err", err)
			}
		}
		if closed {
			return
		}
	}
}

// close stops run after it applied what was settled so far.
func (a *acker) close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

func (a *acker) pendingCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.status) + len(a.results)
}

// wait reports whether every registered delivery was settled and applied
// within d.
func (a *acker) wait(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for a.pendingCount() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
