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

const conformanceWindow = 16

// rabbitHarness runs the conformance suite against the local RabbitMQ: one
// exchange and quorum queue per subtest, deleted afterwards.
type rabbitHarness struct {
	name      string
	exchange  string
	queue     string
	queueType string
	pub       *amqptest.Publisher
}

func newRabbitHarness(t *testing.T, queueType string) conformance.Harness {
	conn := amqptest.Require(t)
	name := amqptest.Unique("dmz-conf-" + queueType)
	h := &rabbitHarness{name: name, exchange: name + ".x", queue: name + ".q", queueType: queueType, pub: amqptest.NewPublisher(t, amqptest.URL)}
	amqptest.Cleanup(t, []string{h.queue}, []string{h.exchange})
	// Declare up front, as the source will, so nothing published before the
	// source's first connection is dropped as unroutable.
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(h.exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(h.queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: queueType}); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(h.queue, "#", h.exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *rabbitHarness) Source(t testing.TB) bridge.Source {
	doc := fmt.Sprintf(`url: %s
exchange: %s
queue: %s
queue_type: %s
prefetch: %d
connection_name: %s
reconnect_initial: 50ms
reconnect_max: 1s
`, amqptest.URL, h.exchange, h.queue, h.queueType, conformanceWindow, h.name)
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(node.Content[0], bridge.SourceSpec{Partner: "conformance", Logger: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func (h *rabbitHarness) Publish(t testing.TB, msgs []conformance.Message) {
	out := make([]amqp.Publishing, len(msgs))
	for i, m := range msgs {
		hd := amqp.Table{}
		for k, v := range m.Headers {
			hd[k] = v
		}
		out[i] = amqp.Publishing{MessageId: m.ID, Headers: hd, Body: m.Body, ContentType: "application/json"}
	}
	h.pub.Publish(h.exchange, "conformance.event", out)
}

func (h *rabbitHarness) Disconnect(t testing.TB) {
	if n := amqptest.CloseConnections(t, h.name); n == 0 {
		t.Fatalf("no broker connection named %s to close", h.name)
	}
}

func TestConformanceQuorum(t *testing.T) {
	conformance.Run(t, conformance.Features{
		Ordered:           true,
		RedeliversOnNack:  true,
		ResumesAfterClose: true,
		Reconnects:        true,
		Window:            conformanceWindow,
	}, func(t *testing.T) conformance.Harness { return newRabbitHarness(t, "quorum") })
}

func TestConformanceClassic(t *testing.T) {
	conformance.Run(t, conformance.Features{
		Ordered:           true,
		RedeliversOnNack:  true,
		ResumesAfterClose: true,
		Reconnects:        true,
		Window:            conformanceWindow,
	}, func(t *testing.T) conformance.Harness { return newRabbitHarness(t, "classic") })
}
