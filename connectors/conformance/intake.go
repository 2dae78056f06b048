package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// Action is what the fake pipeline does with one delivery.
type Action int

const (
	// Store reports success (done(nil)) from another goroutine, as the
	// pipeline does after JetStream's PubAck.
	Store Action = iota
	// Fail reports a storage failure (done(err)).
	Fail
	// Hold keeps done until Release: the event is in flight.
	Hold
)

type heldDone struct {
	id   string
	done func(error)
}

// Policy decides per delivery; n counts deliveries of env.ID, from 1.
type Policy func(env *bridge.Envelope, n int) Action

// Intake is an in-memory bridge.Intake: the pipeline's side of a source,
// without JetStream. It records every Submit.
type Intake struct {
	mu         sync.Mutex
	policy     Policy
	deliveries map[string]int
	first      map[string]*bridge.Envelope
	order      []string
	stored     map[string]bool
	held       []heldDone
	calls      int
	gate       chan struct{}
}

// NewIntake returns an intake applying action to every delivery.
func NewIntake(action Action) *Intake {
	in := &Intake{deliveries: map[string]int{}, first: map[string]*bridge.Envelope{}, stored: map[string]bool{}}
	in.SetPolicy(action)
	return in
}

// SetPolicy applies a to deliveries from now on.
func (in *Intake) SetPolicy(a Action) {
	in.SetPolicyFunc(func(*bridge.Envelope, int) Action { return a })
}

// SetPolicyFunc applies p to deliveries from now on.
func (in *Intake) SetPolicyFunc(p Policy) {
	in.mu.Lock()
	in.policy = p
	in.mu.Unlock()
}

// Block makes Submit block until the returned channel is closed (or the
// source's context ends), like a pipeline whose window is full.
func (in *Intake) Block() chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.gate = make(chan struct{})
	return in.gate
}

// Submit implements bridge.Intake.
func (in *Intake) Submit(ctx context.Context, env *bridge.Envelope, done func(error)) error {
	in.mu.Lock()
	in.calls++
	gate := in.gate
	in.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return fmt.Errorf("intake: %w", ctx.Err())
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.deliveries[env.ID]++
	if _, seen := in.first[env.ID]; !seen {
		in.first[env.ID] = env
		in.order = append(in.order, env.ID)
	}
	switch in.policy(env, in.deliveries[env.ID]) {
	case Store:
		in.stored[env.ID] = true
		go done(nil)
	case Fail:
		go done(fmt.Errorf("intake: simulated storage failure"))
	case Hold:
		in.held = append(in.held, heldDone{env.ID, done})
	}
	return nil
}

// Release settles every held delivery with err; with nil they count as
// stored.
func (in *Intake) Release(err error) {
	in.mu.Lock()
	held := in.held
	in.held = nil
	if err == nil {
		for _, h := range held {
			in.stored[h.id] = true
		}
	}
	in.mu.Unlock()
	for _, h := range held {
		h.done(err)
	}
}

// Calls counts Submit calls, including blocked ones.
func (in *Intake) Calls() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls
}

// Deliveries counts Submit calls that got past the gate for id.
func (in *Intake) Deliveries(id string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.deliveries[id]
}

// StoredCount counts distinct ids stored.
func (in *Intake) StoredCount() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.stored)
}

// Firsts maps each id to the envelope of its first delivery.
func (in *Intake) Firsts() map[string]*bridge.Envelope {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]*bridge.Envelope, len(in.first))
	for k, v := range in.first {
		out[k] = v
	}
	return out
}

// FirstOrder lists ids in the order of their first delivery.
func (in *Intake) FirstOrder() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.order...)
}

// WaitStored waits until every id in want is stored.
func (in *Intake) WaitStored(t testing.TB, d time.Duration, want []string) {
	t.Helper()
	waitFor(t, d, "all messages stored", func() (bool, string) {
		in.mu.Lock()
		defer in.mu.Unlock()
		missing := 0
		example := ""
		for _, id := range want {
			if !in.stored[id] {
				missing++
				if example == "" {
					example = id
				}
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d missing (e.g. %s), %d submits", missing, len(want), example, in.calls)
	})
}
