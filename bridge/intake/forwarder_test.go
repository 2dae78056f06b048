package intake

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/store"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// TestForwarderDeadLettersAfterMaxAttempts: an event the ERP never
// confirms is tried exactly MaxAttempts times, then stored in the
// dead-letter stream with reason max_attempts and its failure history.
func TestForwarderDeadLettersAfterMaxAttempts(t *testing.T) {
	var mu sync.Mutex
	tries := map[string]int{}
	sink := &recordingSink{fail: func(m *bridge.ERPMessage) error {
		mu.Lock()
		defer mu.Unlock()
		tries[m.ID]++
		return errors.New("negative confirm from ERP broker")
	}}
	js := bridgetest.JetStream(t, jetstream.WithPublishAsyncMaxPending(64))
	jsCfg := config.JetStream{Replicas: 1, DuplicateWindow: time.Minute, MaxPending: 64, StallWait: time.Second}
	topo := store.NewTopology("F")
	ctx := context.Background()
	if err := topo.EnsureStreams(ctx, js, jsCfg); err != nil {
		t.Fatal(err)
	}
	counters := bridge.NewCounters()
	p, err := New(Options{
		JS: js, Topology: topo, JetStream: jsCfg,
		Forward: config.Forward{BatchSize: 16, MaxAckPending: 64, AckWait: 5 * time.Second, RetryDelay: time.Second},
		Retry: func(string) config.Retry {
			return config.Retry{InitialDelay: 20 * time.Millisecond, MaxDelay: 80 * time.Millisecond, MaxAttempts: 3}
		},
		Partners: []string{"bank-a"}, Sink: sink, Observer: counters,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx, nil) }()
	defer func() { cancel(); <-done }()

	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, id := range []string{"ev-1", "ev-2"} {
		env := &bridge.Envelope{ID: id, Partner: "bank-a", Source: "nats", EventType: "payment.received",
			Headers: map[string]string{bridge.HeaderTraceParent: tp}, Payload: []byte(`{"n":1}`)}
		if err := submitAndWait(t, p, env); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return counters.Total().DeadLettered == 2 })

	dlq, err := js.Stream(ctx, topo.DeadLetterStream())
	if err != nil {
		t.Fatal(err)
	}
	if n := dlq.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("dead-letter stream holds %d entries, want 2", n)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		h := m.Header
		id := h.Get(bridge.HeaderOriginalID)
		for k, want := range map[string]string{
			bridge.HeaderReason: bridge.ReasonMaxAttempts, bridge.HeaderAttempt: "3", bridge.HeaderPartner: "bank-a", bridge.HeaderSource: "nats",
			bridge.HeaderEventType: "payment.received", bridge.HeaderTraceParent: tp, bridge.HeaderFailedIn: bridge.FailedAtForward,
		} {
			if got := h.Get(k); got != want {
				t.Errorf("entry %s: header %s = %q, want %q", id, k, got, want)
			}
		}
		first, err1 := time.Parse(time.RFC3339Nano, h.Get(bridge.HeaderFirstFailure))
		last, err2 := time.Parse(time.RFC3339Nano, h.Get(bridge.HeaderLastFailure))
		if err1 != nil || err2 != nil || !last.After(first) {
			t.Errorf("entry %s: first failure %q must precede last failure %q", id, h.Get(bridge.HeaderFirstFailure), h.Get(bridge.HeaderLastFailure))
		}
		if h.Get(bridge.HeaderError) == "" || string(m.Data) != `{"n":1}` {
			t.Errorf("entry %s: error %q payload %q", id, h.Get(bridge.HeaderError), m.Data)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range []string{"ev-1", "ev-2"} {
		if tries[id] != 3 {
			t.Errorf("%s was tried %d times, want exactly 3", id, tries[id])
		}
	}
	// Dead-lettered events are acknowledged: nothing is left for the ERP.
	// (They stay stored for the duplicate window; see the compactor.)
	waitFor(t, func() bool {
		cons, err := js.Consumer(ctx, topo.IngestStream(), topo.ForwarderConsumer("bank-a"))
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == 2
	})
}

// TestForwarderStartsOnceItsConsumerCanBeCreated: a forwarder whose
// consumer cannot be created at start (a push consumer holds its name)
// reports itself down and keeps trying; once the name is free it creates
// its consumer and forwards what was stored meanwhile.
func TestForwarderStartsOnceItsConsumerCanBeCreated(t *testing.T) {
	sink := &recordingSink{}
	p, js, topo, _ := testPipeline(t, sink)
	ctx := context.Background()
	durable := topo.ForwarderConsumer("bank-a")
	if _, err := js.CreateOrUpdatePushConsumer(ctx, topo.IngestStream(), jetstream.ConsumerConfig{
		Durable: durable, DeliverSubject: "nobody.listens", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ev-1", "ev-2", "ev-3"} {
		if err := submitAndWait(t, p, &bridge.Envelope{ID: id, Partner: "bank-a", Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx, nil) }()
	defer func() { cancel(); <-done }()

	waitFor(t, func() bool { return p.Forwarders().State("bank-a") == bridge.StateDown })
	if err := p.Forwarders().Err(); err == nil || !strings.Contains(err.Error(), "forwarder bank-a down") {
		t.Fatalf("readiness error while the consumer cannot be created: %v", err)
	}
	if got := sink.ids(); len(got) != 0 {
		t.Fatalf("forwarded %v through a consumer it cannot have", got)
	}
	if err := js.DeleteConsumer(ctx, topo.IngestStream(), durable); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(sink.ids()) == 3 })
	if got := sink.ids(); !slices.Equal(got, []string{"ev-1", "ev-2", "ev-3"}) {
		t.Fatalf("ERP received %v", got)
	}
	waitFor(t, func() bool { return p.Forwarders().Err() == nil })
}
