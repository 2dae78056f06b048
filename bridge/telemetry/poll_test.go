package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// stateSource is a partner source whose link state the test sets. The
// poller only reads a connector's state; that each connector reports its
// real link state is tested with the connector.
type stateSource struct{ state atomic.Value }

func newStateSource(st string) *stateSource {
	s := &stateSource{}
	s.state.Store(st)
	return s
}

func (s *stateSource) Run(ctx context.Context, _ bridge.Intake) error { <-ctx.Done(); return nil }
func (s *stateSource) State() string                                  { return s.state.Load().(string) }

// stubSink is an ERP sink with no state of its own, only Ready().
type stubSink struct{ notReady atomic.Bool }

func (s *stubSink) Publish(context.Context, []*bridge.ERPMessage) []error { return nil }
func (s *stubSink) Close() error                                          { return nil }
func (s *stubSink) Ready() error {
	if s.notReady.Load() {
		return errors.New("ERP unreachable")
	}
	return nil
}

// TestPollerConnectorStates runs the poller against a real JetStream and a
// partner source whose link state the test sets. connector_up is 1 while
// the partner's link is up and drops to 0 when it is lost; the ERP sink, wrapped as the
// bridge wraps it, is 0 when not ready. Backlog and dead-letter depth are
// read from the streams, and a failed backlog read keeps the last value.
func TestPollerConnectorStates(t *testing.T) {
	ctx := t.Context()
	_, js := bridgetest.StartJetStream(t)
	topo := store.NewTopology("T")
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: topo.IngestStream(), Subjects: []string{"t.ingest.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: topo.DeadLetterStream(), Subjects: []string{topo.DeadLetterSubject("") + ">"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, topo.IngestStream(), jetstream.ConsumerConfig{
		Durable: topo.ForwarderConsumer("bank-a"), FilterSubject: topo.IngestSubject("bank-a"), AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	publish := func(subject string, n int) {
		for i := range n {
			if _, err := js.Publish(ctx, subject, fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(topo.IngestSubject("bank-a"), 3)
	publish(topo.DeadLetterSubject("bank-a"), 2)

	src := newStateSource(bridge.StateConnecting)
	tracing, err := NewTracing(ctx, config.Tracing{ServiceName: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	erp := &stubSink{}
	m := newMetrics(t)
	p := &Poller{JS: js, Topology: topo, Partners: []string{"bank-a", "dealer"}, Metrics: m,
		Connectors: []NamedConnector{
			{Partner: "bank-a", Role: "inbound", Connector: "nats", Impl: src},
			{Role: "erp", Connector: "nats", Impl: tracing.Sink(erp)},
		}}
	up := func(labels map[string]string) float64 {
		t.Helper()
		v, ok := value(t, m, "dmzbridge_connector_up", labels)
		if !ok {
			t.Fatalf("no connector_up series for %v", labels)
		}
		return v
	}
	bank, erpRole := map[string]string{"partner": "bank-a", "role": "inbound"}, map[string]string{"role": "erp"}
	// pollUntil polls as Run would, until cond holds.
	pollUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for p.Poll(ctx); !cond(); p.Poll(ctx) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; gauges %+v", what, m.Gauges())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	p.Poll(ctx)
	if v := up(bank); v != 0 {
		t.Fatalf("connector_up %v before the source runs, want 0", v)
	}
	src.state.Store(bridge.StateUp)
	pollUntil("the partner link up", func() bool { return up(bank) == 1 })
	if v := up(erpRole); v != 1 {
		t.Fatalf("ERP connector_up %v while ready", v)
	}
	// A consumer's pending count can lag the publishes it counts (under
	// CI load a first poll saw 0), so the gauges are awaited, not sampled.
	pollUntil("backlog 3 and dead letters 2 for bank-a, 0 for dealer", func() bool {
		g := m.Gauges()
		return g.Backlog["bank-a"] == 3 && g.DeadLetters["bank-a"] == 2 && g.DeadLetters["dealer"] == 0
	})
	g := m.Gauges()
	if _, ok := g.Backlog["dealer"]; ok {
		t.Fatalf("dealer has no consumer yet a backlog %d", g.Backlog["dealer"])
	}

	// The rate is events received per second between two polls.
	for range 20 {
		m.Received(&bridge.Envelope{Partner: "bank-a", Source: "nats", EventType: "payment.received"})
	}
	time.Sleep(100 * time.Millisecond)
	p.Poll(ctx)
	if r := m.Gauges().Rate["bank-a"]; r <= 0 || r > 20/0.1 {
		t.Fatalf("rate %v for 20 events in ≥0.1 s", r)
	}

	src.state.Store(bridge.StateConnecting) // the partner's server is gone
	erp.notReady.Store(true)
	pollUntil("the partner link down", func() bool { return up(bank) == 0 })
	st := (&Admin{Metrics: m}).StatusReport(ctx)
	if len(st.Partners) != 1 || st.Partners[0].State != bridge.StateConnecting {
		t.Fatalf("status partners %+v, want bank-a connecting", st.Partners)
	}
	if v := up(erpRole); v != 0 {
		t.Fatalf("ERP connector_up %v while not ready, want 0", v)
	}
	if len(st.ERP) != 1 || st.ERP[0].State != bridge.StateDown {
		t.Fatalf("status ERP %+v, want down", st.ERP)
	}

	// A backlog that cannot be read keeps its last value rather than
	// showing an empty backlog.
	if err := js.DeleteConsumer(ctx, topo.IngestStream(), topo.ForwarderConsumer("bank-a")); err != nil {
		t.Fatal(err)
	}
	p.Poll(ctx)
	if n := m.Gauges().Backlog["bank-a"]; n != 3 {
		t.Fatalf("backlog %d after a failed read, want the last value 3", n)
	}

	src.state.Store(bridge.StateDown) // the source has stopped
	p.Poll(ctx)
	if v := up(bank); v != 0 || m.Gauges().Connectors[0].State != bridge.StateDown {
		t.Fatalf("after the source stopped: connector_up %v, state %q", v, m.Gauges().Connectors[0].State)
	}
}

// TestPollerRawSinkCountsAsUp documents why the bridge hands the poller
// the wrapped ERP sink: a sink with no state of its own counts as up
// whatever its Ready() says; wrapped, it is down when not ready.
func TestPollerRawSinkCountsAsUp(t *testing.T) {
	tracing, err := NewTracing(t.Context(), config.Tracing{ServiceName: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	erp := &stubSink{}
	erp.notReady.Store(true)
	if got := bridge.StateOf(erp); got != bridge.StateUp {
		t.Fatalf("raw sink: %q", got)
	}
	if got := bridge.StateOf(tracing.Sink(erp)); got != bridge.StateDown {
		t.Fatalf("wrapped sink not ready: %q, want down", got)
	}
}
