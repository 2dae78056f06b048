package connkit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// TestLinkState: the link state the bridge's metrics and status read
// (bridge.StateOf) follows the phase; Snapshot keeps the whole state.
func TestLinkState(t *testing.T) {
	for _, c := range []struct {
		phase Phase
		want  string
	}{
		{PhaseIdle, bridge.StateConnecting},
		{PhaseConnecting, bridge.StateConnecting},
		{PhaseConnected, bridge.StateUp},
		{PhaseWaiting, bridge.StateDown},
		{PhaseStopped, bridge.StateDown},
	} {
		l := NewLink()
		l.Set(c.phase, nil)
		if got := bridge.StateOf(l); got != c.want {
			t.Errorf("phase %s: state %q, want %q", c.phase, got, c.want)
		}
		if l.Snapshot().Phase != c.phase {
			t.Errorf("Snapshot().Phase = %s, want %s", l.Snapshot().Phase, c.phase)
		}
	}
}

// TestBackoffBounds: each delay lies in [d/2, d] of its doubling step d
// and never exceeds max; Reset starts over.
func TestBackoffBounds(t *testing.T) {
	initial, max := 100*time.Millisecond, 1600*time.Millisecond
	b := NewBackoff(initial, max)
	for round := range 2 {
		step := initial
		for i := range 12 {
			d := b.NextBackOff()
			if d < step/2 || d > step {
				t.Fatalf("round %d delay %d: %v outside [%v, %v]", round, i, d, step/2, step)
			}
			step = min(step*2, max)
		}
		b.Reset()
	}
}

// TestRunReconnects: a failed session is followed by another after a
// backoff, the error lands in the state, progress resets the backoff, and
// Run returns in PhaseStopped once ctx ends.
func TestRunReconnects(t *testing.T) {
	l := NewLink()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sessions := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx, Reconnect{Initial: time.Millisecond, Max: 4 * time.Millisecond, Ended: "test session ended"}, Logger(nil),
			func(ctx context.Context) (bool, error) {
				sessions++
				if st := l.Snapshot(); st.Phase != PhaseConnecting {
					t.Errorf("session %d starts in phase %s", sessions, st.Phase)
				}
				l.Set(PhaseConnected, nil)
				if sessions == 3 {
					cancel()
					<-ctx.Done()
					return true, nil
				}
				return false, errors.New("lost")
			})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	st := l.Snapshot()
	if sessions != 3 || st.Connects != 3 || st.Phase != PhaseStopped || st.LastError != "lost" {
		t.Fatalf("%d sessions, state %+v", sessions, st)
	}
}

// TestDeliveries: counts per key until forgotten; RejectRedelivered
// dead-letters past the limit and keeps an earlier rejection.
func TestDeliveries(t *testing.T) {
	var d Deliveries
	env := &bridge.Envelope{ID: "m"}
	for i, want := range []bool{false, false, true} {
		RejectRedelivered(env, d.Count("m"), 2, "delivered")
		if got := env.Rejection != nil; got != want {
			t.Fatalf("delivery %d: rejected %v, want %v", i+1, got, want)
		}
	}
	if env.Rejection.Reason != bridge.ReasonRedelivered {
		t.Fatalf("reason %q", env.Rejection.Reason)
	}
	d.Forget("m")
	if n := d.Count("m"); n != 1 {
		t.Fatalf("count after Forget: %d, want 1", n)
	}
	big := &bridge.Envelope{Rejection: bridge.Reject(bridge.ReasonTooLarge, "x")}
	RejectRedelivered(big, 9, 2, "delivered")
	if big.Rejection.Reason != bridge.ReasonTooLarge {
		t.Fatalf("an earlier rejection was replaced by %q", big.Rejection.Reason)
	}
}
