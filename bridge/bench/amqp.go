package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Partner kinds the bench runs.
const (
	KindNATS = "nats"
	KindAMQP = "amqp"
)

// DefaultAMQPURL is the RabbitMQ of the development brokers.
const DefaultAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"

func (o Options) kind() string {
	if o.PartnerKind == "" {
		return KindNATS
	}
	return o.PartnerKind
}

// amqpPrefix names this run's exchanges and queues, apart from other
// runs' on a shared broker.
func (o Options) amqpPrefix() string { return "dmzbench-" + strconv.Itoa(os.Getpid()) }

func amqpExchange(prefix string, part int) string { return prefix + ".p" + strconv.Itoa(part) + ".x" }
func amqpQueue(prefix string, part int) string    { return prefix + ".p" + strconv.Itoa(part) + ".q" }

// amqpPublisher is the partners' side on RabbitMQ: one exchange per
// partner, which the bridge declares and binds its quorum queue to.
type amqpPublisher struct {
	conn   *amqp.Connection
	prefix string
	mu     sync.Mutex
	used   map[int]bool // partners whose queue is known to exist
}

func newAMQPPublisher(url, prefix string) (*amqpPublisher, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("partner publisher: %w", err)
	}
	return &amqpPublisher{conn: conn, prefix: prefix, used: map[int]bool{}}, nil
}

// close removes the run's exchanges and queues and disconnects.
func (p *amqpPublisher) close() {
	if ch, err := p.conn.Channel(); err == nil {
		for part := range p.used {
			_, _ = ch.QueueDelete(amqpQueue(p.prefix, part), false, false, false)
			_ = ch.ExchangeDelete(amqpExchange(p.prefix, part), false, false)
		}
		_ = ch.Close()
	}
	_ = p.conn.Close()
}

// waitQueue waits until the bridge has declared the partner's queue, so
// nothing is published to an exchange with no queue bound.
func (p *amqpPublisher) waitQueue(ctx context.Context, part int) error {
	p.mu.Lock()
	known := p.used[part]
	p.mu.Unlock()
	if known {
		return nil
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := p.depth(part); err == nil {
			p.mu.Lock()
			p.used[part] = true
			p.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queue %s not declared by the bridge", amqpQueue(p.prefix, part))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// depth is how many messages wait in the partner's queue; a passive
// declare of a missing queue closes its channel, hence one of its own.
func (p *amqpPublisher) depth(part int) (int, error) {
	ch, err := p.conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(amqpQueue(p.prefix, part), true, false, false, false, nil)
	return q.Messages, err
}

func (p *amqpPublisher) publish(ctx context.Context, partners, n int, rate float64, tag string, payloads [][]byte) error {
	return eachPartner(partners, func(part int) error {
		return p.publishPartner(ctx, part, partners, n, rate, tag, payloads)
	})
}

// publishPartner publishes with publisher confirms, at most confirmWindow
// unconfirmed, and returns once the broker confirmed every message.
func (p *amqpPublisher) publishPartner(ctx context.Context, part, partners, n int, rate float64, tag string, payloads [][]byte) error {
	if err := p.waitQueue(ctx, part); err != nil {
		return err
	}
	ch, err := p.conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return err
	}
	const confirmWindow = 1024
	var pending []*amqp.DeferredConfirmation
	settle := func(keep int) error {
		for len(pending) > keep {
			ok, err := pending[0].WaitContext(ctx)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("broker refused a message of partner %d", part)
			}
			pending = pending[1:]
		}
		return nil
	}
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(partners) / rate)
	}
	next := time.Now()
	for i := range n {
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
		if i%1024 == 1023 {
			if err := p.waitBelowAhead(ctx, part, partners); err != nil {
				return err
			}
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, amqpExchange(p.prefix, part), "order.created", true, false, amqp.Publishing{
			MessageId: tag + "-" + strconv.Itoa(part) + "-" + strconv.Itoa(i), Type: "order.created",
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: payloads[i%len(payloads)],
		})
		if err != nil {
			return fmt.Errorf("publish partner %d: %w", part, err)
		}
		pending = append(pending, dc)
		if err := settle(confirmWindow); err != nil {
			return err
		}
	}
	return settle(0)
}

// waitBelowAhead keeps each queue under its share of aheadLimit.
func (p *amqpPublisher) waitBelowAhead(ctx context.Context, part, partners int) error {
	for {
		d, err := p.depth(part)
		if err != nil {
			return fmt.Errorf("partner queue depth: %w", err)
		}
		if d <= max(aheadLimit/partners, 2048) {
			return nil
		}
		select {
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// rawAMQPConsume is the partner leg on RabbitMQ: n messages preloaded
// into a quorum queue of the run's own, then consumed with one ack each
// and a window of DefaultPrefetch's size for a batch of 1000.
func rawAMQPConsume(ctx context.Context, o Options, data []byte) (float64, error) {
	conn, err := amqp.Dial(o.AMQPURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	q := o.amqpPrefix() + ".raw"
	if _, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err != nil {
		return 0, err
	}
	defer func() { _, _ = ch.QueueDelete(q, false, false, false) }()
	if err := ch.Confirm(false); err != nil {
		return 0, err
	}
	n := min(o.RawAsync, o.Partners*o.Events)
	var pending []*amqp.DeferredConfirmation
	for range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q, false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: data})
		if err != nil {
			return 0, err
		}
		pending = append(pending, dc)
	}
	for _, dc := range pending {
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			return 0, fmt.Errorf("raw AMQP preload not confirmed: %v", err)
		}
	}
	if err := ch.Qos(2000, 0, false); err != nil {
		return 0, err
	}
	start := time.Now()
	deliveries, err := ch.ConsumeWithContext(ctx, q, "", false, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	timeout := time.After(2 * time.Minute)
	for got := 0; got < n; got++ {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return 0, fmt.Errorf("raw AMQP consumer closed after %d", got)
			}
			if err := d.Ack(false); err != nil {
				return 0, err
			}
		case <-timeout:
			return 0, fmt.Errorf("raw AMQP consumed %d of %d", got, n)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
