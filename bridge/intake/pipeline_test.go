package intake

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// recordingSink is the ERP side of a pipeline test: it confirms or fails
// each publish as the test says.
type recordingSink struct {
	mu   sync.Mutex
	got  []*bridge.ERPMessage
	fail func(*bridge.ERPMessage) error
}

func (s *recordingSink) Publish(_ context.Context, batch []*bridge.ERPMessage) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(batch))
	failed := false
	for i, m := range batch {
		if s.fail != nil {
			errs[i] = s.fail(m)
		}
		if errs[i] == nil {
			s.got = append(s.got, m)
		} else {
			failed = true
		}
	}
	if failed {
		return errs
	}
	return nil
}

func (s *recordingSink) Ready() error { return nil }
func (s *recordingSink) Close() error { return nil }

func (s *recordingSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.got))
	for i, m := range s.got {
		out[i] = m.ID
	}
	return out
}

func testPipeline(t *testing.T, sink bridge.Sink, stages ...bridge.Stage) (*Pipeline, jetstream.JetStream, store.Topology, *bridge.Counters) {
	t.Helper()
	js := bridgetest.JetStream(t, jetstream.WithPublishAsyncMaxPending(64))
	jsCfg := config.JetStream{Replicas: 1, DuplicateWindow: time.Minute, MaxPending: 64, StallWait: time.Second}
	topo := store.NewTopology("T")
	if err := topo.EnsureStreams(context.Background(), js, jsCfg); err != nil {
		t.Fatal(err)
	}
	counters := bridge.NewCounters()
	p, err := New(Options{
		JS: js, Topology: topo, JetStream: jsCfg,
		Forward:  config.Forward{BatchSize: 16, MaxAckPending: 64, AckWait: 5 * time.Second, RetryDelay: 50 * time.Millisecond},
		Partners: []string{"bank-a"}, Stages: stages, Sink: sink, Observer: counters,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, js, topo, counters
}

func submitAndWait(t *testing.T, p *Pipeline, env *bridge.Envelope) error {
	t.Helper()
	res := make(chan error, 1)
	if err := p.Submit(context.Background(), env, func(err error) { res <- err }); err != nil {
		t.Fatalf("submit: %v", err)
	}
	select {
	case err := <-res:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("done was never called")
		return nil
	}
}

func TestSubmitOutcomes(t *testing.T) {
	transient := errors.New("schema registry unavailable")
	stage := bridge.StageFunc{StageName: "check", Fn: func(_ context.Context, e *bridge.Envelope) error {
		switch string(e.Payload) {
		case "reject":
			return bridge.Reject(bridge.ReasonSchemaInvalid, "missing field")
		case "transient":
			return transient
		}
		e.Payload = append([]byte("masked:"), e.Payload...)
		return nil
	}}
	p, js, topo, counters := testPipeline(t, &recordingSink{}, stage)
	ctx := context.Background()

	if err := submitAndWait(t, p, &bridge.Envelope{ID: "ok-1", Partner: "bank-a", Source: "test", Payload: []byte("good")}); err != nil {
		t.Fatalf("valid event: done(%v), want nil", err)
	}
	if err := submitAndWait(t, p, &bridge.Envelope{ID: "bad-1", Partner: "bank-a", Source: "test", Payload: []byte("reject")}); err != nil {
		t.Fatalf("rejected event is stored in the DLQ, so done must be nil, got %v", err)
	}
	if err := submitAndWait(t, p, &bridge.Envelope{ID: "tr-1", Partner: "bank-a", Source: "test", Payload: []byte("transient")}); !errors.Is(err, transient) {
		t.Fatalf("transient stage failure: done(%v), want the error so the source redelivers", err)
	}

	ingest, _ := js.Stream(ctx, topo.IngestStream())
	if n := ingest.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("ingest holds %d messages, want 1", n)
	}
	stored, err := ingest.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(stored.Data) != "masked:good" {
		t.Fatalf("ingest must hold the staged payload, got %q", stored.Data)
	}
	dlq, err := js.Stream(ctx, topo.DeadLetterStream())
	if err != nil {
		t.Fatal(err)
	}
	dl, err := dlq.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("dead-letter entry missing: %v", err)
	}
	if dl.Header.Get(bridge.HeaderReason) != bridge.ReasonSchemaInvalid || string(dl.Data) != "reject" || dl.Header.Get(bridge.HeaderOriginalID) != "bad-1" {
		t.Fatalf("dead-letter entry wrong: reason %q data %q id %q", dl.Header.Get(bridge.HeaderReason), dl.Data, dl.Header.Get(bridge.HeaderOriginalID))
	}
	tot := counters.Total()
	if tot.Received != 3 || tot.Stored != 1 || tot.DeadLettered != 1 {
		t.Fatalf("counters %+v", tot)
	}
}

func TestDuplicateIDStoredOnce(t *testing.T) {
	p, js, topo, _ := testPipeline(t, &recordingSink{})
	for range 3 {
		if err := submitAndWait(t, p, &bridge.Envelope{ID: "same", Partner: "bank-a", Source: "test", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	ingest, _ := js.Stream(context.Background(), topo.IngestStream())
	if n := ingest.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("a redelivered event must be deduplicated by id; ingest holds %d", n)
	}
}

func TestForwarderRetriesUntilSinkRecovers(t *testing.T) {
	var mu sync.Mutex
	down := true
	sink := &recordingSink{fail: func(*bridge.ERPMessage) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return errors.New("ERP unreachable")
		}
		return nil
	}}
	p, _, _, counters := testPipeline(t, sink)
	// All five are stored before the forwarder starts, so they fail and are
	// retried as one batch whatever the timing of the writer.
	for i := range 5 {
		if err := submitAndWait(t, p, &bridge.Envelope{ID: string(rune('a' + i)), Partner: "bank-a", Source: "test", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, nil) }()
	waitFor(t, func() bool { return counters.Total().ForwardFailed >= 5 })
	mu.Lock()
	down = false
	mu.Unlock()
	waitFor(t, func() bool { return len(sink.ids()) == 5 })
	cancel()
	<-done
	// Each event backs off on its own jittered schedule, so after an outage
	// they may arrive in any order; each must arrive exactly once.
	got := sink.ids()
	slices.Sort(got)
	if want := []string{"a", "b", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Fatalf("ERP received %v, want each of %v once", got, want)
	}
}

func TestSubmitAfterCloseRefused(t *testing.T) {
	p, _, _, _ := testPipeline(t, &recordingSink{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.Run(ctx, nil)
	err := p.Submit(context.Background(), &bridge.Envelope{ID: "late", Partner: "bank-a", Payload: []byte("x")}, func(error) {
		t.Error("done must not be called when Submit refuses")
	})
	if !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Submit after shutdown = %v, want store.ErrClosed", err)
	}
}

func ingestMsgs(t *testing.T, js jetstream.JetStream, topo store.Topology) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), topo.IngestStream())
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSameIDFromTwoPartnersBothStored(t *testing.T) {
	js := bridgetest.JetStream(t, jetstream.WithPublishAsyncMaxPending(64))
	jsCfg := config.JetStream{Replicas: 1, DuplicateWindow: time.Minute, MaxPending: 64, StallWait: time.Second}
	topo := store.NewTopology("T")
	if err := topo.EnsureStreams(context.Background(), js, jsCfg); err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{JS: js, Topology: topo, JetStream: jsCfg, Forward: config.Forward{BatchSize: 1, MaxAckPending: 1, AckWait: time.Second, RetryDelay: time.Second},
		Partners: []string{"bank-a", "dealer-c"}, Sink: &recordingSink{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, partner := range []string{"bank-a", "dealer-c"} {
		if err := submitAndWait(t, p, &bridge.Envelope{ID: "1", Partner: partner, Source: "test", Payload: []byte(partner)}); err != nil {
			t.Fatal(err)
		}
	}
	ingest, _ := js.Stream(context.Background(), topo.IngestStream())
	if n := ingest.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("two partners' events with the same id: ingest holds %d, want 2 (one was dropped as a duplicate)", n)
	}
	m, err := ingest.GetMsg(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	env, err := store.Decode(m.Subject, m.Header, m.Data)
	if err != nil || env.ID != "1" || env.Partner != "dealer-c" {
		t.Fatalf("decoded %+v, %v; want the partner's own id back", env, err)
	}
}

// receivedRecorder keeps what Received saw of each event.
type receivedRecorder struct {
	bridge.Observers
	mu   sync.Mutex
	seen map[string]bridge.Envelope
}

func (r *receivedRecorder) Received(e *bridge.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[e.ID] = *e
}

// TestReceivedSeesTypeAndOriginalPayload: observers hear of an event after
// the stages ran, so they know the type the stage found (also on a
// rejection, as validation records a known type before rejecting), and
// still see the payload as the partner sent it, not the staged one.
func TestReceivedSeesTypeAndOriginalPayload(t *testing.T) {
	stage := bridge.StageFunc{StageName: "type", Fn: func(_ context.Context, e *bridge.Envelope) error {
		e.EventType = "order.created"
		if string(e.Payload) == "reject" {
			return bridge.Reject(bridge.ReasonSchemaInvalid, "missing field")
		}
		e.Payload = []byte("masked")
		return nil
	}}
	p, _, _, _ := testPipeline(t, &recordingSink{}, stage)
	rec := &receivedRecorder{seen: map[string]bridge.Envelope{}}
	p.obs = rec
	for _, env := range []*bridge.Envelope{
		{ID: "ok", Partner: "bank-a", Source: "test", Payload: []byte("good")},
		{ID: "bad", Partner: "bank-a", Source: "test", Payload: []byte("reject")},
	} {
		if err := submitAndWait(t, p, env); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]string{"ok": "good", "bad": "reject"} {
		got, ok := rec.seen[id]
		if !ok {
			t.Fatalf("%s: Received not called", id)
		}
		if got.EventType != "order.created" || string(got.Payload) != want {
			t.Errorf("%s: Received saw type %q payload %q, want order.created and %q", id, got.EventType, got.Payload, want)
		}
	}
}
