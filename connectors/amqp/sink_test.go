package amqp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/cloudevents"
	"github.com/dmzbridge/dmzbridge/connectors/amqp/amqptest"
)

// sinkFixture is one exchange and one durable queue on the shared local
// RabbitMQ, both with names no other run uses, deleted when the test ends.
// The queue is bound to exactly one routing key so that everything else
// published to the exchange is unroutable.
type sinkFixture struct {
	exchange, queue, boundKey string
	ch                        *amqp.Channel
}

func newSinkFixture(t *testing.T, boundKey string) *sinkFixture {
	t.Helper()
	conn := amqptest.Require(t)
	name := amqptest.Unique("dmz-sink")
	f := &sinkFixture{exchange: name + ".x", queue: name + ".q", boundKey: boundKey}
	amqptest.Cleanup(t, []string{f.queue}, []string{f.exchange})
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	if err := ch.ExchangeDeclare(f.exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(f.queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(f.queue, boundKey, f.exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	f.ch = ch
	return f
}

// sink builds the connector through its factory, as the bridge does, so the
// defaults (routing key "{partner}.{type}", confirm timeout) are the real ones.
func (f *sinkFixture) sink(t *testing.T) *Sink {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(fmt.Sprintf("url: %s\nexchange: %s\ntimeout: 10s\n", amqptest.URL, f.exchange)), &node); err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(node.Content[0], bridge.SinkSpec{Logger: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*Sink)
}

// get takes the next message off the queue. It polls briefly (bounded)
// rather than trusting one basic.get, so a loaded shared broker cannot turn
// a delivered message into a false failure.
func (f *sinkFixture) get(t *testing.T) (amqp.Delivery, bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, ok, err := f.ch.Get(f.queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if ok || time.Now().After(deadline) {
			return d, ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func publishCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSinkReturnedMessageIsAnError: with the mandatory flag the broker
// returns a message no queue is bound for and still confirms it (a
// basic.ack follows the basic.return). A sink that looked only at confirms
// would report it delivered and the forwarder would ack it off JetStream:
// the event would be lost. It must be that message's error, and only its,
// so the forwarder retries it and nothing else.
func TestSinkReturnedMessageIsAnError(t *testing.T) {
	f := newSinkFixture(t, "acme.order.created")
	s := f.sink(t)
	routed := &bridge.ERPMessage{ID: amqptest.Unique("routed"), Partner: "acme", EventType: "order.created", Body: []byte(`{"n":1}`)}
	lost := &bridge.ERPMessage{ID: amqptest.Unique("unroutable"), Partner: "acme", EventType: "order.cancelled", Body: []byte(`{"n":2}`)}

	errs := s.Publish(publishCtx(t), []*bridge.ERPMessage{routed, lost})
	if len(errs) != 2 {
		t.Fatalf("Publish returned %d errors for a batch of 2 with one unroutable message, want one slot per message: %v", len(errs), errs)
	}
	if errs[0] != nil {
		t.Errorf("routed message reported failed: %v", errs[0])
	}
	if errs[1] == nil {
		t.Fatal("unroutable message reported delivered; the forwarder would ack it and the event would be lost")
	}
	if !strings.Contains(errs[1].Error(), lost.ID) || !strings.Contains(errs[1].Error(), "unroutable") {
		t.Errorf("error for the returned message does not name it as unroutable: %v", errs[1])
	}
	d, ok := f.get(t)
	if !ok || d.MessageId != routed.ID {
		t.Fatalf("queue holds %q (present %v), want the routed message %q", d.MessageId, ok, routed.ID)
	}
	if _, ok, _ := f.ch.Get(f.queue, true); ok {
		t.Error("queue holds a second message; the unroutable one must not have been delivered anywhere")
	}

	// What the forwarder does next: retry the failed message. Once the ERP
	// side binds a queue for its key, the same sink (same channel, so the
	// earlier return must not linger and poison this batch) delivers it.
	if err := f.ch.QueueBind(f.queue, "acme.order.cancelled", f.exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	if errs := s.Publish(publishCtx(t), []*bridge.ERPMessage{lost}); errs != nil {
		t.Fatalf("retry after binding the key failed: %v", errs)
	}
	if d, ok := f.get(t); !ok || d.MessageId != lost.ID {
		t.Fatalf("after the retry the queue holds %q (present %v), want %q", d.MessageId, ok, lost.ID)
	}
}

// TestSinkConfirmedPublishIsPersistent: a confirmed message must survive an
// ERP broker restart, which needs delivery mode 2 on a durable queue; a
// transient message in a durable queue is dropped on restart even though
// it was confirmed. It must also arrive intact with the id the ERP uses for
// de-duplication.
func TestSinkConfirmedPublishIsPersistent(t *testing.T) {
	f := newSinkFixture(t, "acme.#")
	s := f.sink(t)
	m := &bridge.ERPMessage{
		ID:        amqptest.Unique("evt"),
		Partner:   "acme",
		EventType: "invoice.issued",
		Headers:   map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "content-type": cloudevents.ContentType},
		Body:      []byte(`{"invoice":"INV-1"}`),
	}
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if errs := s.Publish(publishCtx(t), []*bridge.ERPMessage{m}); errs != nil {
		t.Fatalf("Publish: %v", errs)
	}
	d, ok := f.get(t)
	if !ok {
		t.Fatal("confirmed message is not in the bound queue")
	}
	if d.DeliveryMode != amqp.Persistent {
		t.Errorf("delivery mode %d, want %d (persistent)", d.DeliveryMode, amqp.Persistent)
	}
	if d.MessageId != m.ID || d.Type != m.EventType || string(d.Body) != string(m.Body) {
		t.Errorf("arrived as id %q type %q body %q, want %q %q %q", d.MessageId, d.Type, d.Body, m.ID, m.EventType, m.Body)
	}
	if d.RoutingKey != "acme.invoice.issued" {
		t.Errorf("routing key %q, want the default {partner}.{type} = acme.invoice.issued", d.RoutingKey)
	}
	if d.ContentType != cloudevents.ContentType {
		t.Errorf("content type %q, want the normalizer's %q", d.ContentType, cloudevents.ContentType)
	}
	if got := d.Headers["traceparent"]; got != m.Headers["traceparent"] {
		t.Errorf("traceparent header %v, want %q", got, m.Headers["traceparent"])
	}
}
