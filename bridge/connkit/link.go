package connkit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// Phase is where a connector's session stands.
type Phase string

// Phases of a session, in the order a healthy connector passes them.
const (
	PhaseIdle       Phase = "idle"
	PhaseConnecting Phase = "connecting"
	// PhaseConnected: the session consumes (or publishes).
	PhaseConnected Phase = "connected"
	// PhaseWaiting: the last session failed or ended; the connector waits
	// out its backoff before it starts a new one.
	PhaseWaiting Phase = "waiting"
	PhaseStopped Phase = "stopped"
)

// State is a snapshot of a connector for health checks and tests.
type State struct {
	Phase Phase
	Since time.Time
	// LastError is the most recent error that ended or refused a session.
	LastError string
	// Connects counts sessions that reached PhaseConnected; more than one
	// means the connector reconnected.
	Connects int
	// InFlight counts messages handed to the pipeline and not yet settled.
	InFlight int
}

// Link tracks a connector's session state. Its State method is the
// connector's bridge.StateReporter; Snapshot gives the whole State.
type Link struct {
	mu sync.Mutex
	st State
}

// NewLink returns a link in PhaseIdle.
func NewLink() *Link { return &Link{st: State{Phase: PhaseIdle, Since: time.Now()}} }

// Snapshot returns the current state.
func (l *Link) Snapshot() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// State implements bridge.StateReporter: up only while a session is
// connected; waiting out a backoff after a lost session or a failed
// attempt is down, so connector_up drops when the broker is gone.
func (l *Link) State() string {
	switch l.Snapshot().Phase {
	case PhaseConnected:
		return bridge.StateUp
	case PhaseIdle, PhaseConnecting:
		return bridge.StateConnecting
	default: // PhaseWaiting, PhaseStopped
		return bridge.StateDown
	}
}

// Set moves the link to phase p, recording err when not nil.
func (l *Link) Set(p Phase, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st.Phase != p {
		l.st.Phase, l.st.Since = p, time.Now()
	}
	if p == PhaseConnected {
		l.st.Connects++
	}
	if err != nil {
		l.st.LastError = err.Error()
	}
}

// AddInFlight adds n to the messages held by the pipeline.
func (l *Link) AddInFlight(n int) {
	l.mu.Lock()
	l.st.InFlight += n
	l.mu.Unlock()
}

// Submit hands env to in and calls settle exactly once: with the outcome
// the pipeline reports, or with Submit's own error when it refused env.
// InFlight counts env until then. Submit's error is returned as well.
func (l *Link) Submit(ctx context.Context, in bridge.Intake, env *bridge.Envelope, settle func(error)) error {
	l.AddInFlight(1)
	var once sync.Once
	done := func(err error) {
		once.Do(func() {
			l.AddInFlight(-1)
			settle(err)
		})
	}
	err := in.Submit(ctx, env, done)
	if err != nil {
		done(err)
	}
	return err
}

// Reconnect bounds the delay between sessions.
type Reconnect struct {
	Initial, Max time.Duration
	// Ended is logged, with the error and the delay, when a session ends.
	Ended string
}

// Session runs one connection until it is lost or ctx ends. progressed
// reports whether it got anywhere (consumed, stored), which resets the
// backoff.
type Session func(ctx context.Context) (progressed bool, err error)

// Run keeps sessions going until ctx ends: each lost or failed session is
// followed, after a backoff, by a new one. It returns when ctx ends,
// leaving the link in PhaseStopped.
func (l *Link) Run(ctx context.Context, r Reconnect, log *slog.Logger, session Session) {
	defer l.Set(PhaseStopped, nil)
	b := NewBackoff(r.Initial, r.Max)
	for {
		l.Set(PhaseConnecting, nil)
		progressed, err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			b.Reset()
		}
		d := b.NextBackOff()
		l.Set(PhaseWaiting, err)
		log.Warn(r.Ended, "err", err, "in", d.Round(time.Millisecond))
		if !bridge.Sleep(ctx, d) {
			return
		}
	}
}

// NewBackoff doubles the delay from initial up to max and draws each one
// from [d/2, d] of the current step d: never zero, never more than max,
// and clients that lost one broker together do not return in lockstep.
func NewBackoff(initial, max time.Duration) *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		// Interval i randomized by a third spans [2i/3, 4i/3]: with i at
		// three quarters of the step that is [d/2, d].
		InitialInterval:     initial * 3 / 4,
		MaxInterval:         max * 3 / 4,
		Multiplier:          2,
		RandomizationFactor: 1.0 / 3,
	}
	b.Reset()
	return b
}
