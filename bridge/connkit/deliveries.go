package connkit

import (
	"sync"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// maxCounted bounds the keys a Deliveries holds; past it the counts start
// over, which at worst lets a poison message be delivered a few more times.
const maxCounted = 100000

// Deliveries counts how often this process was handed each message that
// is not yet stored, for max_deliveries on brokers that keep no count
// (classic queues, Kafka). Safe for concurrent use.
type Deliveries struct {
	mu     sync.Mutex
	counts map[string]int
}

// Count records one more delivery of key and returns the total.
func (d *Deliveries) Count(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.counts == nil || len(d.counts) >= maxCounted {
		d.counts = map[string]int{}
	}
	d.counts[key]++
	return d.counts[key]
}

// Forget drops key once its message is stored.
func (d *Deliveries) Forget(key string) {
	d.mu.Lock()
	delete(d.counts, key)
	d.mu.Unlock()
}

// RejectRedelivered dead-letters env as redelivery_limit when it was
// handed over n times, more than max, and nothing rejected it already.
// verb says how the broker hands messages over ("delivered", "fetched").
func RejectRedelivered(env *bridge.Envelope, n, max int, verb string) {
	if n > max && env.Rejection == nil {
		env.Rejection = bridge.Reject(bridge.ReasonRedelivered, "%s %d times without being stored (max_deliveries %d)", verb, n, max)
	}
}
