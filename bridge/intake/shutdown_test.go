package intake

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// oneEventSource submits one event with its Run context, as the AMQP and
// Kafka sources do, and reports what became of it.
type oneEventSource struct {
	env       *bridge.Envelope
	done      chan error // done's argument, if done is called
	submitted chan error // Submit's return
}

func (s *oneEventSource) Run(ctx context.Context, in bridge.Intake) error {
	err := in.Submit(ctx, s.env, func(err error) { s.done <- err })
	s.submitted <- err
	<-ctx.Done()
	return nil
}

// TestShutdownBoundedByTimeout: SIGTERM while a stage holds an event ends
// Run within the shutdown timeout, and the held event is never
// acknowledged (done gets an error or is not called), so the partner's
// broker redelivers it.
func TestShutdownBoundedByTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name string
		// block holds the event; release ends a block that ignores ctx.
		block func(ctx context.Context, release <-chan struct{}) error
	}{
		{name: "stage returns when its context ends", block: func(ctx context.Context, _ <-chan struct{}) error {
			<-ctx.Done()
			return ctx.Err()
		}},
		{name: "stage ignores its context", block: func(_ context.Context, release <-chan struct{}) error {
			<-release
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			stage := bridge.StageFunc{StageName: "slow", Fn: func(ctx context.Context, _ *bridge.Envelope) error {
				close(entered)
				return tc.block(ctx, release)
			}}
			p, js, topo, _ := testPipeline(t, &recordingSink{}, stage)
			p.opts.ShutdownTimeout = timeout
			src := &oneEventSource{env: &bridge.Envelope{ID: "held", Partner: "bank-a", Source: "test", Payload: []byte("x")},
				done: make(chan error, 1), submitted: make(chan error, 1)}

			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				_ = p.Run(ctx, map[string]bridge.Source{"bank-a": src})
			}()
			// The event is inside the stage before the shutdown starts.
			<-entered
			cancel()
			select {
			case <-stopped:
			case <-time.After(timeout + 10*time.Second):
				close(release)
				t.Fatalf("Run did not return after its %v shutdown timeout", timeout)
			}
			select {
			case err := <-src.done:
				if err == nil {
					t.Fatal("the held event was acknowledged")
				}
			default:
				// Not called yet: let the stuck stage go on. The pipeline is
				// closed, so Submit must refuse and done stay uncalled.
				close(release)
				if err := <-src.submitted; !errors.Is(err, store.ErrClosed) {
					t.Fatalf("Submit after the shutdown = %v, want store.ErrClosed", err)
				}
				select {
				case err := <-src.done:
					t.Fatalf("done(%v) called after Submit refused", err)
				default:
				}
			}
			if n := ingestMsgs(t, js, topo); n != 0 {
				t.Fatalf("ingest holds %d; the held event must not be stored", n)
			}
		})
	}
}
