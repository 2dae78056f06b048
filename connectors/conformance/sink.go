package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/cloudevents"
)

// SinkHarness drives the ERP side of an outbound connector (bridge.Sink)
// on a real broker. Every subtest gets a fresh harness, so each should use
// its own exchange, queue, subject or stream.
type SinkHarness interface {
	// Sink returns a new sink whose messages the harness captures (a queue
	// bound for them, a stream on their subject).
	Sink(t testing.TB) bridge.Sink
	// UnroutableSink returns a sink whose messages nothing captures: no
	// queue is bound to its exchange, no stream covers its subject.
	UnroutableSink(t testing.TB) bridge.Sink
	// Stored returns, without waiting, the messages the ERP side holds that
	// earlier calls did not return, in the order the broker stored them.
	Stored(t testing.TB) []Received
	// Disconnect makes the broker drop s's connection (or restarts the
	// broker) and returns once the connection is certainly gone. Called
	// only when SinkFeatures.Reconnects is set.
	Disconnect(t testing.TB, s bridge.Sink)
}

// Received is one message as the ERP side stored it.
type Received struct {
	// ID is the broker's message id (AMQP message-id, Nats-Msg-Id).
	ID          string
	Body        []byte
	ContentType string
}

// SinkFeatures says what a sink guarantees; each one enables a subtest.
type SinkFeatures struct {
	// ConfirmedBeforeReturn: Publish returns nil only once the broker has
	// stored every message, so the forwarder may acknowledge them.
	ConfirmedBeforeReturn bool
	// UnroutableFails: a message nothing captures is an error of Publish,
	// never a silent drop.
	UnroutableFails bool
	// Reconnects: after Disconnect the same sink publishes again by
	// itself; the forwarder only retries Publish.
	Reconnects bool
	// Timeout bounds each wait for the broker (default 30s).
	Timeout time.Duration
}

// RunSink runs every subtest the features enable.
func RunSink(t *testing.T, f SinkFeatures, newHarness func(t *testing.T) SinkHarness) {
	if f.Timeout == 0 {
		f.Timeout = 30 * time.Second
	}
	claimed(t, "ConfirmedBeforeReturn", "ConfirmedBeforeReturn", f.ConfirmedBeforeReturn, func(t *testing.T) { testConfirmedBeforeReturn(t, f, newHarness(t)) })
	claimed(t, "UnroutableFails", "UnroutableFails", f.UnroutableFails, func(t *testing.T) { testUnroutableFails(t, f, newHarness(t)) })
	claimed(t, "Reconnects", "Reconnects", f.Reconnects, func(t *testing.T) { testSinkReconnects(t, f, newHarness(t)) })
}

// ERPMessages returns n messages for partner as the CloudEvents
// normalizer shapes them.
func ERPMessages(partner, prefix string, n int) []*bridge.ERPMessage {
	out := make([]*bridge.ERPMessage, n)
	for i := range out {
		out[i] = &bridge.ERPMessage{
			ID:        fmt.Sprintf("%s-%05d", prefix, i),
			Partner:   partner,
			EventType: "order.created",
			Headers:   map[string]string{"content-type": cloudevents.ContentType},
			Body:      []byte(fmt.Sprintf(`{"specversion":"1.0","id":"%s-%05d","data":{"seq":%d}}`, prefix, i, i)),
		}
	}
	return out
}

func publish(t testing.TB, f SinkFeatures, s bridge.Sink, batch []*bridge.ERPMessage) []error {
	ctx, cancel := context.WithTimeout(context.Background(), f.Timeout)
	defer cancel()
	return s.Publish(ctx, batch)
}

// checkStored fails unless got is exactly want, in order, with bodies and
// the CloudEvents content type intact.
func checkStored(t testing.TB, got []Received, want []*bridge.ERPMessage) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the ERP side holds %d messages, want %d", len(got), len(want))
	}
	for i, m := range want {
		r := got[i]
		if r.ID != m.ID || string(r.Body) != string(m.Body) {
			t.Fatalf("message %d: id %q body %q, want %q %q", i, r.ID, r.Body, m.ID, m.Body)
		}
		if r.ContentType != cloudevents.ContentType {
			t.Fatalf("message %s: content type %q, want %q", m.ID, r.ContentType, cloudevents.ContentType)
		}
	}
}

// testConfirmedBeforeReturn: the moment Publish returns nil, the broker
// holds every message of the batch; nothing is looked for later.
func testConfirmedBeforeReturn(t *testing.T, f SinkFeatures, h SinkHarness) {
	s := h.Sink(t)
	for round := range 3 {
		batch := ERPMessages("conf", fmt.Sprintf("confirm%d", round), 100)
		if errs := publish(t, f, s, batch); errs != nil {
			t.Fatalf("round %d: Publish: %v", round, firstErr(errs))
		}
		checkStored(t, h.Stored(t), batch)
	}
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready after confirmed publishes: %v", err)
	}
}

// testUnroutableFails: every message nothing captures is an error, and
// the sink keeps working for routable messages afterwards.
func testUnroutableFails(t *testing.T, f SinkFeatures, h SinkHarness) {
	lost := h.UnroutableSink(t)
	batch := ERPMessages("conf", "unroutable", 5)
	errs := publish(t, f, lost, batch)
	if len(errs) != len(batch) {
		t.Fatalf("Publish of %d unroutable messages returned %d errors (%v): they would be acknowledged and lost", len(batch), len(errs), errs)
	}
	for i, err := range errs {
		if err == nil {
			t.Fatalf("unroutable message %s reported as delivered", batch[i].ID)
		}
	}
	s := h.Sink(t)
	ok := ERPMessages("conf", "routable", 5)
	if errs := publish(t, f, s, ok); errs != nil {
		t.Fatalf("Publish of routable messages: %v", firstErr(errs))
	}
	checkStored(t, h.Stored(t), ok)
}

// testSinkReconnects: after its connection is dropped the same sink
// delivers again, with the forwarder's part played by retrying Publish.
func testSinkReconnects(t *testing.T, f SinkFeatures, h SinkHarness) {
	s := h.Sink(t)
	before := ERPMessages("conf", "before", 10)
	if errs := publish(t, f, s, before); errs != nil {
		t.Fatalf("Publish before the drop: %v", firstErr(errs))
	}
	checkStored(t, h.Stored(t), before)
	h.Disconnect(t, s)

	after := ERPMessages("conf", "after", 10)
	deadline := time.Now().Add(f.Timeout)
	for attempt := 1; ; attempt++ {
		errs := publish(t, f, s, after)
		if errs == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink did not recover within %v (%d attempts): %v", f.Timeout, attempt, firstErr(errs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A failed attempt may have stored part of the batch before the error;
	// the ERP deduplicates by id, so only the last copy of each counts.
	got := h.Stored(t)
	last := map[string]Received{}
	for _, r := range got {
		last[r.ID] = r
	}
	for _, m := range after {
		r, ok := last[m.ID]
		if !ok || string(r.Body) != string(m.Body) {
			t.Fatalf("message %s missing or altered after reconnect (got %d messages)", m.ID, len(got))
		}
	}
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready after reconnect: %v", err)
	}
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
