package amqp

import (
	"fmt"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/connectors/amqp/amqptest"
	"github.com/dmzbridge/dmzbridge/connectors/conformance"
)

// sinkHarness is an ERP exchange with a classic durable queue bound for
// the partner "conf", plus an exchange nothing is bound to, on the shared
// RabbitMQ under names of this subtest alone. Disconnect closes only the
// sink's own connection, found by its connection_name.
type sinkHarness struct {
	name, exchange, lostExchange, queue string
	ch                                  *amqp.Channel
}

func newSinkHarness(t *testing.T) conformance.SinkHarness {
	conn := amqptest.Require(t)
	name := amqptest.Unique("dmz-sinkconf")
	h := &sinkHarness{name: name, exchange: name + ".x", lostExchange: name + ".lost", queue: name + ".q"}
	amqptest.Cleanup(t, []string{h.queue}, []string{h.exchange, h.lostExchange})
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	for _, x := range []string{h.exchange, h.lostExchange} {
		if err := ch.ExchangeDeclare(x, "topic", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ch.QueueDeclare(h.queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeClassic}); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(h.queue, "conf.#", h.exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	h.ch = ch
	return h
}

func (h *sinkHarness) newSink(t testing.TB, exchange string) bridge.Sink {
	var node yaml.Node
	doc := fmt.Sprintf("url: %s\nexchange: %s\ntimeout: 10s\nconnection_name: %s\n", amqptest.URL, exchange, h.name)
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(node.Content[0], bridge.SinkSpec{Logger: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (h *sinkHarness) Sink(t testing.TB) bridge.Sink           { return h.newSink(t, h.exchange) }
func (h *sinkHarness) UnroutableSink(t testing.TB) bridge.Sink { return h.newSink(t, h.lostExchange) }

func (h *sinkHarness) Stored(t testing.TB) []conformance.Received {
	var out []conformance.Received
	for {
		d, ok, err := h.ch.Get(h.queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, conformance.Received{ID: d.MessageId, Body: d.Body, ContentType: d.ContentType})
	}
}

func (h *sinkHarness) Disconnect(t testing.TB, _ bridge.Sink) {
	if n := amqptest.CloseConnections(t, h.name); n != 1 {
		t.Fatalf("closed %d connections named %s, want the sink's one", n, h.name)
	}
}

func TestSinkConformance(t *testing.T) {
	conformance.RunSink(t, conformance.SinkFeatures{
		ConfirmedBeforeReturn: true,
		UnroutableFails:       true,
		Reconnects:            true,
	}, newSinkHarness)
}
