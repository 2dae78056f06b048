package telemetry

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// TestPollerStoreAndOldestAge runs the poller against a real JetStream:
// stream usage follows what is stored, max_bytes is reported for a
// limited stream only, and the oldest-event age is that of the first
// event past the forwarder's ack floor, 0 once everything is confirmed.
func TestPollerStoreAndOldestAge(t *testing.T) {
	ctx := t.Context()
	_, js := bridgetest.StartJetStream(t)
	topo := store.NewTopology("T")
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: topo.IngestStream(), Subjects: []string{"t.ingest.>"}, MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: topo.DeadLetterStream(), Subjects: []string{topo.DeadLetterSubject("") + ">"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, topo.IngestStream(), jetstream.ConsumerConfig{
		Durable: topo.ForwarderConsumer("bank-a"), FilterSubject: topo.IngestSubject("bank-a"), AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(t)
	// The test server's account has no storage limit of its own, so the
	// server's cap stands in for it.
	p := &Poller{JS: js, Topology: topo, Partners: []string{"bank-a"}, Metrics: m, StoreLimit: 1 << 30}

	p.Poll(ctx)
	g := m.Gauges()
	if g.OldestAge["bank-a"] != 0 {
		t.Fatalf("oldest age %v with nothing stored", g.OldestAge["bank-a"])
	}
	for i := range 2 {
		if _, err := js.Publish(ctx, topo.IngestSubject("bank-a"), fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	first, err := js.Stream(ctx, topo.IngestStream())
	if err != nil {
		t.Fatal(err)
	}
	firstMsg, err := first.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Confirm the first event: the oldest unconfirmed one is then the second.
	batch, err := cons.Fetch(1)
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	second, err := first.GetMsg(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	p.Poll(ctx)
	after := time.Now()
	g = m.Gauges()
	age := g.OldestAge["bank-a"]
	if age < before.Sub(second.Time) || age > after.Sub(second.Time) {
		t.Fatalf("oldest age %v, want the second event's age (stored %v, first at %v)", age, second.Time, firstMsg.Time)
	}
	usage := map[string]StreamUsage{}
	for _, s := range g.Streams {
		usage[s.Stream] = s
	}
	in, dl := usage[topo.IngestStream()], usage[topo.DeadLetterStream()]
	if in.Bytes == 0 || in.MaxBytes != 1<<20 {
		t.Fatalf("ingest usage %+v, want bytes > 0 and max 1 MiB", in)
	}
	if dl.Stream == "" || dl.Bytes != 0 || dl.MaxBytes > 0 {
		t.Fatalf("dead-letter usage %+v, want an empty unlimited stream", dl)
	}
	if g.Account == nil || g.Account.Bytes < in.Bytes || g.Account.Limit != 1<<30 {
		t.Fatalf("account usage %+v, want at least the ingest stream's %d bytes and the server's 1 GiB cap", g.Account, in.Bytes)
	}

	batch, err = cons.Fetch(1)
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p.Poll(ctx)
	if a := m.Gauges().OldestAge["bank-a"]; a != 0 {
		t.Fatalf("oldest age %v once everything is confirmed, want 0", a)
	}
}
