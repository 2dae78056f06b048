package bridge

import (
	"sync"
	"sync/atomic"
	"time"
)

// Observer is told about every decision the pipeline makes. Metrics, the
// audit trail and the demo's summary are observers. Calls come from many
// goroutines and must not block.
type Observer interface {
	Received(env *Envelope)
	Stored(env *Envelope)
	DeadLettered(env *Envelope, r *Rejection)
	Forwarded(env *Envelope, latency time.Duration)
	ForwardFailed(env *Envelope, err error)
}

// Observers fans out to several observers.
type Observers []Observer

func (os Observers) Received(e *Envelope) {
	for _, o := range os {
		o.Received(e)
	}
}

func (os Observers) Stored(e *Envelope) {
	for _, o := range os {
		o.Stored(e)
	}
}

func (os Observers) DeadLettered(e *Envelope, r *Rejection) {
	for _, o := range os {
		o.DeadLettered(e, r)
	}
}

func (os Observers) Forwarded(e *Envelope, d time.Duration) {
	for _, o := range os {
		o.Forwarded(e, d)
	}
}

func (os Observers) ForwardFailed(e *Envelope, err error) {
	for _, o := range os {
		o.ForwardFailed(e, err)
	}
}

// Counters is an Observer that counts outcomes per partner.
type Counters struct {
	mu       sync.Mutex
	partners map[string]*PartnerCounts
}

// PartnerCounts are one partner's totals.
type PartnerCounts struct {
	Received      atomic.Int64
	Stored        atomic.Int64
	DeadLettered  atomic.Int64
	Forwarded     atomic.Int64
	ForwardFailed atomic.Int64
}

// Snapshot is a plain copy of PartnerCounts.
type Snapshot struct {
	Received, Stored, DeadLettered, Forwarded, ForwardFailed int64
}

// NewCounters returns empty counters.
func NewCounters() *Counters { return &Counters{partners: map[string]*PartnerCounts{}} }

func (c *Counters) of(partner string) *PartnerCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, ok := c.partners[partner]
	if !ok {
		pc = &PartnerCounts{}
		c.partners[partner] = pc
	}
	return pc
}

func (c *Counters) Received(e *Envelope)                   { c.of(e.Partner).Received.Add(1) }
func (c *Counters) Stored(e *Envelope)                     { c.of(e.Partner).Stored.Add(1) }
func (c *Counters) DeadLettered(e *Envelope, _ *Rejection) { c.of(e.Partner).DeadLettered.Add(1) }
func (c *Counters) Forwarded(e *Envelope, _ time.Duration) { c.of(e.Partner).Forwarded.Add(1) }
func (c *Counters) ForwardFailed(e *Envelope, _ error)     { c.of(e.Partner).ForwardFailed.Add(1) }

// Snapshot returns the totals per partner.
func (c *Counters) Snapshot() map[string]Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Snapshot, len(c.partners))
	for p, pc := range c.partners {
		out[p] = Snapshot{
			Received: pc.Received.Load(), Stored: pc.Stored.Load(),
			DeadLettered: pc.DeadLettered.Load(), Forwarded: pc.Forwarded.Load(),
			ForwardFailed: pc.ForwardFailed.Load(),
		}
	}
	return out
}

// Total sums all partners.
func (c *Counters) Total() Snapshot {
	var t Snapshot
	for _, s := range c.Snapshot() {
		t.Received += s.Received
		t.Stored += s.Stored
		t.DeadLettered += s.DeadLettered
		t.Forwarded += s.Forwarded
		t.ForwardFailed += s.ForwardFailed
	}
	return t
}
