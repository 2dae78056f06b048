package integration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/connectors/amqp/amqptest"
	"github.com/dmzbridge/dmzbridge/connectors/kafka/kafkatest"
)

// hostileLimit is the partner's max_message_bytes in TestHostileNATS:
// under the embedded server's 1 MiB payload limit, headers included.
const hostileLimit = 512 << 10

type hostileEvent struct {
	name, body, reason string // reason "" = must reach the ERP
}

// hostileEvents are a partner's worst: deep nesting of arrays and of
// objects up to the size limit, invalid UTF-8, lone surrogates, huge
// numbers, many keys, long names, an identity claim of another sender, a
// message at the size limit and one a byte over.
func hostileEvents() []hostileEvent {
	valid := valPayment(1, "DE89370400440532013000", "x@acme.example")
	at := valid + strings.Repeat(" ", hostileLimit-len(valid)) // JSON allows trailing space
	keys := func(repeat bool) string {
		var b strings.Builder
		b.WriteString(`{`)
		for i := 0; b.Len() < hostileLimit-100; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"k` + strconv.Itoa(i) + `":0`)
		}
		if repeat {
			b.WriteString(`,"k0":1`)
		}
		return b.String() + `}`
	}
	deepArrays := strings.Repeat("[", hostileLimit/2) + strings.Repeat("]", hostileLimit/2)
	deepObjects := strings.Repeat(`{"a":`, hostileLimit/6-1) + "1" + strings.Repeat("}", hostileLimit/6-1)
	name := func(v string) string { return strings.Replace(valid, `"Acme GmbH"`, v, 1) }
	return []hostileEvent{
		{"deep arrays", deepArrays, bridge.ReasonTooLarge},
		{"deep objects", deepObjects, bridge.ReasonTooLarge},
		{"invalid UTF-8", name("\"Acme \xff GmbH\""), bridge.ReasonMalformed},
		{"lone high surrogate", name(`"Acme \ud800"`), bridge.ReasonMalformed},
		{"lone low surrogate", name(`"\udc00 Acme"`), bridge.ReasonMalformed},
		{"reversed surrogate pair", name(`"\ude00\ud83d"`), bridge.ReasonMalformed},
		{"huge number", strings.Replace(valid, `"amount":101.25`, `"amount":1`+strings.Repeat("0", 200_000), 1), bridge.ReasonTooLarge},
		{"long string", name(`"` + strings.Repeat("A", 100_000) + `"`), bridge.ReasonTooLarge},
		{"many keys", keys(false), bridge.ReasonSchemaInvalid},
		{"many keys, one repeated", keys(true), bridge.ReasonMalformed},
		{"long member name", `{"` + strings.Repeat("n", 300) + `":1}`, bridge.ReasonTooLarge},
		{"another sender", strings.Replace(valid, `"Acme GmbH"`, `"Acme GmbH","partner":"P-9999"`, 1), bridge.ReasonPartnerMismatch},
		{"at the size limit", at, ""},
		{"one byte over", at + " ", bridge.ReasonTooLarge},
		{"surrogate pair", name(`"Acme \ud83d\ude00"`), ""},
	}
}

// hostilePartner is one connector's partner for runHostile: its config
// block and how to send it an event with a message id.
type hostilePartner struct {
	block   string
	publish func(t *testing.T, id, body string)
}

// hostileChecks is the partner-level config every connector's partner
// gets: the schemas, the size limit and an identity rule.
func hostileChecks() string {
	return fmt.Sprintf(`
    allowed_types: [payment.received]
    max_message_bytes: %d
    identity: {field: /payer/partner, values: [P-0036]}`, hostileLimit)
}

// TestHostileNATS, TestHostileAMQP, TestHostileKafka: a partner's
// hostile events, then valid ones behind them; each hostile event is
// dead-lettered with its reason and its original bytes, and the valid
// ones reach the ERP within seconds.
func TestHostileNATS(t *testing.T) {
	runHostile(t, hostileNATSPartner(t, "hostile", ""))
}

func TestHostileAMQP(t *testing.T) {
	runHostile(t, hostileAMQPPartner(t))
}

func TestHostileKafka(t *testing.T) {
	runHostile(t, hostileKafkaPartner(t, "hostile.events"))
}

// hostileNATSPartner is bank-a on a JetStream stream of its own NATS
// server; subject names the stream's subjects, extra adds consumer options.
func hostileNATSPartner(t *testing.T, subject, extra string) hostilePartner {
	partner := startNATS(t, "")
	_, pjs := partner.js(t)
	stream := strings.ToUpper(subject) + "_IN"
	createStream(t, pjs, stream, subject+".>")
	return hostilePartner{
		block: fmt.Sprintf(`  - name: bank-a
    inbound:
      type: nats
      options: {url: %s, subject: "%s.>", stream: %s, durable: %s-bank%s}`, partner.url(), subject, stream, subject, extra) + hostileChecks(),
		publish: func(t *testing.T, id, body string) {
			m := nats.NewMsg(subject + ".in")
			m.Data = []byte(body)
			m.Header.Set(nats.MsgIdHdr, id)
			m.Header.Set("Event-Type", "payment.received")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := pjs.PublishMsg(ctx, m); err != nil {
				t.Fatalf("publish %s (%d bytes): %v", id, len(body), err)
			}
		},
	}
}

// hostileAMQPPartner is bank-a on its own exchange of the shared RabbitMQ.
func hostileAMQPPartner(t *testing.T) hostilePartner {
	conn := requireRabbit(t)
	p := newAMQPPartner(t, "bank-a", "topic", "payment.received")
	pub := amqptest.NewPublisher(t, rabbitURL)
	return hostilePartner{
		block: p.yaml(rabbitURL) + hostileChecks(),
		publish: func(t *testing.T, id, body string) {
			p.waitDeclaredOnce(t, conn)
			pub.Publish(p.exchange, p.routingKey, []amqp.Publishing{{
				MessageId: id, ContentType: "application/json", Type: "payment.received",
				Headers: amqp.Table{"Event-Type": "payment.received"}, Body: []byte(body),
			}})
		},
	}
}

// hostileKafkaPartner is bank-a on a topic of its own kfake cluster.
func hostileKafkaPartner(t *testing.T, topic string) hostilePartner {
	kc := startKfake(t, topic)
	pub := kafkatest.NewPublisher(t, kc.Brokers, topic, nil)
	return hostilePartner{
		block: kafkaPartnerYAML("bank-a", kc.Brokers, topic, "id_header: Msg-Id") + hostileChecks(),
		publish: func(t *testing.T, id, body string) {
			pub.Publish(t, []kafkatest.Record{{Partition: 0, Key: id, Value: []byte(body),
				Headers: map[string]string{"Msg-Id": id, "Event-Type": "payment.received"}}})
		},
	}
}

func runHostile(t *testing.T, partner hostilePartner) {
	schemasDir, err := filepath.Abs(filepath.Join("..", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	erpSrv := startNATS(t, "")
	enc, ejs := erpSrv.js(t)
	createStream(t, ejs, "HOSTILE_ERP", "erp.>")
	var mu sync.Mutex
	atERP := map[string]bool{}
	sub, err := enc.Subscribe("erp.>", func(m *nats.Msg) {
		mu.Lock()
		atERP[m.Header.Get(nats.MsgIdHdr)] = true
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	erpYAML := fmt.Sprintf("type: nats\noptions:\n  url: %s\n  subject: erp.events.{partner}\n  jetstream: true\n", erpSrv.url())
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erpYAML, strings.TrimRight(partner.block, "\n")) + "schemas_dir: " + schemasDir + "\n"
	rb := startBridge(t, yaml, app.Options{})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events := hostileEvents()
	want := map[string]hostileEvent{}
	for i, ev := range events {
		id := fmt.Sprintf("hostile-%02d", i)
		partner.publish(t, id, ev.body)
		want[id] = ev
	}
	sentValid := time.Now()
	const valid = 10
	for i := range valid {
		partner.publish(t, fmt.Sprintf("after-%02d", i), valPayment(100+i, "DE89370400440532013000", "x@acme.example"))
	}
	eventually(t, 15*time.Second, "the valid events behind the hostile ones at the ERP", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for i := range valid {
			if atERP[fmt.Sprintf("after-%02d", i)] {
				n++
			}
		}
		return n == valid, fmt.Sprintf("%d of %d", n, valid)
	})
	t.Logf("valid events behind the hostile ones reached the ERP %v after they were sent", time.Since(sentValid).Round(time.Millisecond))

	js := rb.b.JetStream()
	dlqStream := rb.b.Topology().DeadLetterStream()
	wantDLQ := 0
	for _, ev := range events {
		if ev.reason != "" {
			wantDLQ++
		}
	}
	dlq := map[string]jetstream.Msg{}
	eventually(t, 15*time.Second, "every hostile event dead-lettered", func() (bool, string) {
		c, err := js.OrderedConsumer(ctx, dlqStream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("dead-letter consumer: %v", err)
		}
		batch, err := c.FetchNoWait(100)
		if err != nil {
			t.Fatalf("fetch dead letters: %v", err)
		}
		for m := range batch.Messages() {
			dlq[m.Headers().Get(bridge.HeaderOriginalID)] = m
		}
		return len(dlq) >= wantDLQ, fmt.Sprintf("%d of %d", len(dlq), wantDLQ)
	})
	mu.Lock()
	defer mu.Unlock()
	for id, ev := range want {
		m, dead := dlq[id]
		switch {
		case ev.reason == "" && (dead || !atERP[id]):
			t.Errorf("%s: should reach the ERP (dead-lettered %v)", ev.name, dead)
		case ev.reason == "":
		case !dead:
			t.Errorf("%s: not dead-lettered (at the ERP: %v)", ev.name, atERP[id])
		case m.Headers().Get(bridge.HeaderReason) != ev.reason:
			t.Errorf("%s: reason %s (%s), want %s", ev.name, m.Headers().Get(bridge.HeaderReason), m.Headers().Get(bridge.HeaderError), ev.reason)
		case string(m.Data()) != ev.body:
			t.Errorf("%s: the dead-letter entry does not keep the original bytes", ev.name)
		default:
			t.Logf("%s: %s: %.120s", ev.name, ev.reason, m.Headers().Get(bridge.HeaderError))
		}
		if dead && atERP[id] {
			t.Errorf("%s: both dead-lettered and at the ERP", ev.name)
		}
	}
}

// waitDeclaredOnce is waitDeclared for the first publish only.
func (p *amqpPartner) waitDeclaredOnce(t *testing.T, conn *amqp.Connection) {
	if !p.declared {
		p.waitDeclared(t, conn)
		p.declared = true
	}
}
