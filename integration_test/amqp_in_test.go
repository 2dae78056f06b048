package integration_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/store"
	"github.com/dmzbridge/dmzbridge/connectors/amqp/amqptest"
)

// amqpPartner is one partner's dedicated exchange on the local RabbitMQ.
type amqpPartner struct {
	name         string
	exchange     string
	exchangeType string
	routingKey   string
	queue        string
	connName     string
	extra        string // more option lines, indented like the others
	declared     bool   // waitDeclaredOnce has seen the queue
}

// newAMQPPartner names a partner's exchange, queue and connection uniquely
// and deletes them when the test ends. The bridge declares them.
func newAMQPPartner(t *testing.T, name, exchangeType, routingKey string) *amqpPartner {
	p := namedAMQPPartner(name, exchangeType, routingKey)
	amqptest.Cleanup(t, []string{p.queue}, []string{p.exchange})
	return p
}

// namedAMQPPartner names a partner on a private node, whose data goes
// with it, so nothing is deleted afterwards.
func namedAMQPPartner(name, exchangeType, routingKey string) *amqpPartner {
	u := amqptest.Unique("dmz-it-" + name)
	return &amqpPartner{name: name, exchange: u + ".x", exchangeType: exchangeType, routingKey: routingKey, queue: u + ".q", connName: u}
}

func (p *amqpPartner) yaml(url string) string {
	keys := ""
	if p.exchangeType == "direct" {
		keys = "\n        binding_keys: [" + p.routingKey + "]"
	}
	return fmt.Sprintf(`  - name: %s
    inbound:
      type: amqp
      options:
        url: %s
        exchange: %s
        exchange_type: %s
        queue: %s
        connection_name: %s
        reconnect_initial: 100ms
        reconnect_max: 2s%s%s`, p.name, url, p.exchange, p.exchangeType, p.queue, p.connName, keys, p.extra)
}

// ids returns n message ids for the partner.
func (p *amqpPartner) ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%05d", p.name, i)
	}
	return out
}

// waitDeclared waits until the bridge has declared the partner's exchange
// and queue, so nothing published is dropped as unroutable.
func (p *amqpPartner) waitDeclared(t *testing.T, conn *amqp.Connection) {
	t.Helper()
	eventually(t, 30*time.Second, "queue "+p.queue+" declared by the bridge", func() (bool, string) {
		ch, err := conn.Channel()
		if err != nil {
			return false, err.Error()
		}
		defer ch.Close()
		if _, err := ch.QueueDeclarePassive(p.queue, true, false, false, false, nil); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	// The binding follows the queue declaration on the same channel.
	time.Sleep(200 * time.Millisecond)
}

func (p *amqpPartner) publish(pub *amqptest.Publisher, ids []string) {
	msgs := make([]amqp.Publishing, len(ids))
	for i, id := range ids {
		msgs[i] = amqp.Publishing{
			MessageId: id, ContentType: "application/json", Type: "payment.received",
			Headers: amqp.Table{"traceparent": fmt.Sprintf("00-%032x-%016x-01", i+1, i+1)},
			Body:    []byte(fmt.Sprintf(`{"id":%q}`, id)),
		}
	}
	pub.Publish(p.exchange, p.routingKey, msgs)
}

// checkPartnerOrder asserts every id arrived and, per partner, first
// arrivals kept the partner's order.
func checkPartnerOrder(t *testing.T, c *erpCollector, want map[string][]string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	pos := map[string]int{}
	owner := map[string]string{}
	for p, ids := range want {
		for i, id := range ids {
			pos[id], owner[id] = i, p
		}
	}
	seen := map[string]bool{}
	last := map[string]int{}
	for _, id := range c.ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		p, ok := owner[id]
		if !ok {
			t.Fatalf("ERP received unexpected id %q", id)
		}
		if l, ok := last[p]; ok && pos[id] < l {
			t.Fatalf("partner %s order broken: %s arrived after #%d", p, id, l)
		}
		last[p] = pos[id]
	}
	total := 0
	for _, ids := range want {
		for _, id := range ids {
			if !seen[id] {
				t.Fatalf("id %s never reached the ERP", id)
			}
		}
		total += len(ids)
	}
	t.Logf("%d distinct ids in partner order, %d deliveries", total, len(c.ids))
}

// intakeGate is a pipeline stage that lets a set number of envelopes
// through and holds the rest until it is given more. A fault test admits
// part of the stream, waits until the gate holds an envelope, injects the
// fault and only then admits the rest, so the fault lands mid-stream
// however slow the machine or the fault injection is.
type intakeGate struct {
	mu      sync.Mutex
	left    int // envelopes still admitted; -1 admits all
	waiting int // envelopes held right now
	more    chan struct{}
}

func newIntakeGate(admit int) *intakeGate {
	return &intakeGate{left: admit, more: make(chan struct{})}
}

func (g *intakeGate) options() app.Options {
	return app.Options{Stages: []bridge.Stage{bridge.StageFunc{StageName: "intake-gate", Fn: g.pass}}}
}

func (g *intakeGate) pass(ctx context.Context, _ *bridge.Envelope) error {
	g.mu.Lock()
	for g.left == 0 {
		more := g.more
		g.waiting++
		g.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			g.mu.Lock()
			g.waiting--
			g.mu.Unlock()
			return ctx.Err()
		}
		g.mu.Lock()
		g.waiting--
	}
	if g.left > 0 {
		g.left--
	}
	g.mu.Unlock()
	return nil
}

// admit lets n more envelopes through; n < 0 opens the gate for good.
func (g *intakeGate) admit(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n < 0 || g.left < 0 {
		g.left = -1
	} else {
		g.left += n
	}
	close(g.more)
	g.more = make(chan struct{})
}

// waitHolding waits until the gate has used up what it admitted and holds
// at least one envelope back.
func (g *intakeGate) waitHolding(t *testing.T) {
	t.Helper()
	eventually(t, 90*time.Second, "the intake gate to hold an envelope", func() (bool, string) {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.left == 0 && g.waiting > 0, fmt.Sprintf("%d left to admit, %d held", g.left, g.waiting)
	})
}

// checkBacklog asserts the partner's queue still holds messages the bridge
// has not taken, which is what makes a fault "mid-stream".
func checkBacklog(t *testing.T, url, queue string) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("partner queue %s: %v", queue, err)
	}
	if q.Messages == 0 {
		t.Fatalf("partner queue %s holds no ready messages; not mid-stream", queue)
	}
	t.Logf("partner queue holds %d ready messages", q.Messages)
}

func waitAllAtERP(t *testing.T, c *erpCollector, total int, d time.Duration) {
	t.Helper()
	eventually(t, d, "all ids at the ERP", func() (bool, string) {
		n := c.distinct()
		return n == total, fmt.Sprintf("%d of %d", n, total)
	})
}

// TestAMQPInThreePartnersTenThousand: three partners, each on its own
// exchange type, 10,000 messages in all; every one reaches the ERP in its
// partner's order.
func TestAMQPInThreePartnersTenThousand(t *testing.T) {
	conn := requireRabbit(t)
	erp := natsERP(t)
	partners := []*amqpPartner{
		newAMQPPartner(t, "bank-a", "topic", "payment.received"),
		newAMQPPartner(t, "carrier-b", "direct", "shipments"),
		newAMQPPartner(t, "dealer-c", "fanout", ""),
	}
	partners[2].extra = "\n        queue_type: classic"
	blocks := make([]string, len(partners))
	for i, p := range partners {
		blocks[i] = p.yaml(rabbitURL)
	}
	startBridge(t, bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.yaml, blocks...), app.Options{})
	counts := []int{3334, 3333, 3333}
	want := map[string][]string{}
	start := time.Now()
	var wg sync.WaitGroup
	for i, p := range partners {
		p.waitDeclared(t, conn)
		want[p.name] = p.ids(counts[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			pub := amqptest.NewPublisher(t, rabbitURL)
			for b := 0; b < len(want[p.name]); b += 500 {
				p.publish(pub, want[p.name][b:min(b+500, len(want[p.name]))])
			}
		}()
	}
	wg.Wait()
	waitAllAtERP(t, erp.collect, 10000, 90*time.Second)
	t.Logf("10,000 messages from 3 AMQP partners at the ERP in %v", time.Since(start).Round(time.Millisecond))
	checkPartnerOrder(t, erp.collect, want)
}

// TestAMQPInForcedCloseMidStream: the broker closes the bridge's partner
// connections twice while messages flow; nothing is lost. Closing only its
// own connections, it uses the shared RabbitMQ.
func TestAMQPInForcedCloseMidStream(t *testing.T) {
	conn := requireRabbit(t)
	erp := natsERP(t)
	p := newAMQPPartner(t, "bank-f", "topic", "payment.received")
	const total = 3000
	gate := newIntakeGate(0)
	startBridge(t, bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.yaml, p.yaml(rabbitURL)), gate.options())
	p.waitDeclared(t, conn)
	ids := p.ids(total)
	p.publish(amqptest.NewPublisher(t, rabbitURL), ids)
	// Cut the bridge off twice while the gate holds the rest of the stream
	// back: once after a tenth has been let in, once after half
	// (redelivered copies count against what the gate lets in).
	admitted := 0
	for _, at := range []int{total / 10, total / 2} {
		gate.admit(at - admitted)
		admitted = at
		gate.waitHolding(t)
		checkBacklog(t, rabbitURL, p.queue)
		eventually(t, 60*time.Second, "a bridge connection to close", func() (bool, string) {
			return amqptest.CloseConnections(t, p.connName) > 0, "none yet"
		})
		n := erp.collect.distinct()
		if n >= total {
			t.Fatalf("all %d messages at the ERP with the intake gate closed", n)
		}
		t.Logf("connection force-closed with %d of %d at the ERP", n, total)
	}
	gate.admit(-1)
	waitAllAtERP(t, erp.collect, total, 90*time.Second)
	checkAllArrived(t, erp.collect, ids)
}

// checkAllArrived asserts every id reached the ERP. After a connection
// loss the broker requeues what was not acknowledged, so copies may arrive
// twice (same id, deduplicated downstream) and order is not asserted.
func checkAllArrived(t *testing.T, c *erpCollector, ids []string) {
	t.Helper()
	c.mu.Lock()
	got := map[string]bool{}
	for _, id := range c.ids {
		got[id] = true
	}
	deliveries := len(c.ids)
	c.mu.Unlock()
	for _, id := range ids {
		if !got[id] {
			t.Fatalf("id %s never reached the ERP", id)
		}
	}
	t.Logf("%d distinct ids, %d deliveries", len(ids), deliveries)
}

// TestAMQPInBrokerRestartMidStream stops and starts the partner's RabbitMQ
// while messages flow; the bridge reconnects by itself and nothing is lost.
// The broker is a private node the test starts, never the shared one.
func TestAMQPInBrokerRestartMidStream(t *testing.T) {
	node := amqptest.StartNode(t)
	conn, err := amqp.Dial(node.URL())
	if err != nil {
		t.Fatalf("private RabbitMQ node: %v", err)
	}
	erp := natsERP(t)
	p := namedAMQPPartner("bank-r", "topic", "payment.received")
	const total, first = 4000, 3000
	gate := newIntakeGate(300)
	startBridge(t, bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.yaml, p.yaml(node.URL())), gate.options())
	p.waitDeclared(t, conn)
	conn.Close()
	ids := p.ids(total)
	pub := amqptest.NewPublisher(t, node.URL())
	p.publish(pub, ids[:first])
	// The broker goes down while the gate holds the stream back.
	gate.waitHolding(t)
	checkBacklog(t, node.URL(), p.queue)
	node.Stop()
	before := erp.collect.distinct()
	if before >= first {
		t.Fatalf("all %d messages at the ERP with the intake gate closed", before)
	}
	t.Logf("RabbitMQ stopped with %d of %d at the ERP", before, first)
	node.Start()
	gate.admit(-1)
	p.publish(pub, ids[first:]) // the publisher reconnects by itself
	waitAllAtERP(t, erp.collect, total, 90*time.Second)
	checkAllArrived(t, erp.collect, ids)
}

// TestAMQPInMutualTLS: the partner's broker demands a client certificate
// signed by its CA. RabbitMQ on this machine has no TLS listener, so a
// TLS-terminating proxy written for the test (requiring and verifying
// client certificates) fronts it; the bridge dials amqps:// to the proxy.
func TestAMQPInMutualTLS(t *testing.T) {
	conn := requireRabbit(t)
	erp := natsERP(t)
	pki := amqptest.NewPKI(t, "partner-mq.test", "dmzbridge-bank-t")
	proxy := amqptest.StartTLSProxy(t, pki, "127.0.0.1:5672")
	url := "amqps://guest:guest@" + proxy.Addr + "/"
	p := newAMQPPartner(t, "bank-t", "topic", "payment.received")
	p.extra = fmt.Sprintf("\n        tls: {ca: %s, cert: %s, key: %s, server_name: %s}", pki.CA, pki.ClientCert, pki.ClientKey, pki.ServerName)
	// A second partner on the same proxy without a client certificate must
	// never get through.
	rogue := newAMQPPartner(t, "rogue-t", "topic", "payment.received")
	rogue.extra = fmt.Sprintf("\n        tls: {ca: %s, server_name: %s}", pki.CA, pki.ServerName)
	startBridge(t, bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.yaml, p.yaml(url), rogue.yaml(url)), app.Options{})
	p.waitDeclared(t, conn)
	ids := p.ids(200)
	p.publish(amqptest.NewPublisher(t, rabbitURL), ids)
	waitAllAtERP(t, erp.collect, len(ids), 30*time.Second)
	for _, cn := range proxy.ClientCNs() {
		if cn != pki.ClientCN {
			t.Fatalf("proxy accepted a client certificate %q", cn)
		}
	}
	eventually(t, 10*time.Second, "the certificate-less partner refused", func() (bool, string) {
		errs := proxy.HandshakeErrors()
		return len(errs) > 0, "no refused handshake yet"
	})
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclarePassive(rogue.queue, true, false, false, false, nil); err == nil {
		t.Fatal("the partner without a client certificate declared its queue: it got through")
	}
	t.Logf("accepted client certificates: %v; refused handshakes: %d", proxy.ClientCNs(), len(proxy.HandshakeErrors()))
}

// TestAMQPInDeadLetters: a message the pipeline keeps failing to store is
// dead-lettered once the quorum queue's delivery count passes the limit,
// and an oversized message is dead-lettered at once; neither blocks the
// messages behind it, and neither is requeued forever.
func TestAMQPInDeadLetters(t *testing.T) {
	conn := requireRabbit(t)
	erp := natsERP(t)
	p := newAMQPPartner(t, "bank-d", "topic", "payment.received")
	p.extra = "\n        max_deliveries: 3\n        max_message_bytes: 1024"
	const poison = "bank-d-poison"
	var attempts sync.Map
	failing := bridge.StageFunc{StageName: "flaky-store", Fn: func(_ context.Context, env *bridge.Envelope) error {
		if env.ID == poison {
			n, _ := attempts.LoadOrStore(env.ID, new(int))
			*n.(*int)++
			return errors.New("simulated transient failure")
		}
		return nil
	}}
	rb := startBridge(t, bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.yaml, p.yaml(rabbitURL)),
		app.Options{Stages: []bridge.Stage{failing}})
	p.waitDeclared(t, conn)
	good := p.ids(100)
	pub := amqptest.NewPublisher(t, rabbitURL)
	pub.Publish(p.exchange, p.routingKey, []amqp.Publishing{
		{MessageId: poison, Body: []byte(`{"poison":true}`)},
		{MessageId: "bank-d-huge", Body: []byte(strings.Repeat("x", 2048))},
	})
	p.publish(pub, good)
	waitAllAtERP(t, erp.collect, len(good), 30*time.Second)

	js := rb.b.JetStream()
	reasons := map[string]string{}
	eventually(t, 30*time.Second, "both messages in the dead-letter stream", func() (bool, string) {
		reasons = deadLetterReasons(t, js, store.NewTopology("DMZ").DeadLetterStream())
		return len(reasons) == 2, fmt.Sprint(reasons)
	})
	if reasons[poison] != bridge.ReasonRedelivered || reasons["bank-d-huge"] != bridge.ReasonTooLarge {
		t.Fatalf("dead-letter reasons %v", reasons)
	}
	n, _ := attempts.Load(poison)
	if got := *n.(*int); got != 3 {
		t.Fatalf("poison message tried %d times, want max_deliveries=3", got)
	}
	// Nothing of it is left on the partner's queue.
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(p.queue, true, false, false, false, nil)
	if err != nil || q.Messages != 0 {
		t.Fatalf("partner queue after dead-lettering: %+v, %v", q, err)
	}
}

func deadLetterReasons(t *testing.T, js jetstream.JetStream, stream string) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for seq := uint64(1); seq <= s.CachedInfo().State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		out[m.Header.Get(bridge.HeaderOriginalID)] = m.Header.Get(bridge.HeaderReason)
	}
	return out
}
