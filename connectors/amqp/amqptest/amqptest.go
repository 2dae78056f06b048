// Package amqptest holds helpers for tests against RabbitMQ: reaching the
// shared local broker, starting a private node for tests that stop or cut
// a broker, force-closing chosen connections, publishing with confirms,
// and a mutual-TLS front. It is imported by tests only.
package amqptest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// URL is the RabbitMQ started by deploy/dev/brokers.sh.
const URL = "amqp://guest:guest@127.0.0.1:5672/"

// Require returns a connection to the local RabbitMQ. When it is missing
// the test fails under CI and is skipped elsewhere: CI must never go green
// because a broker was absent.
func Require(t testing.TB) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(URL)
	if err != nil {
		msg := fmt.Sprintf("RabbitMQ at 127.0.0.1:5672 is not reachable (%v); run deploy/dev/brokers.sh", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Unique returns prefix plus a suffix no other test run uses.
func Unique(prefix string) string {
	return prefix + "-" + fmt.Sprintf("%x", time.Now().UnixNano())[6:]
}

// Cleanup deletes queues and exchanges when the test ends.
func Cleanup(t testing.TB, queues, exchanges []string) {
	t.Cleanup(func() {
		conn, err := amqp.Dial(URL)
		if err != nil {
			return
		}
		defer conn.Close()
		for _, q := range queues {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(q, false, false, false)
				ch.Close()
			}
		}
		for _, x := range exchanges {
			if ch, err := conn.Channel(); err == nil {
				_ = ch.ExchangeDelete(x, false, false)
				ch.Close()
			}
		}
	})
}

// CloseConnections makes the shared broker close every connection whose
// client connection_name starts with prefix, and returns how many it
// closed. Only connections of the calling test are touched, so other users
// of the shared broker are unaffected; a test that stops or restarts a
// broker uses a private Node instead.
func CloseConnections(t testing.TB, prefix string) int {
	t.Helper()
	return closeConnections(t, func(ctx context.Context, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, "rabbitmqctl", args...)
	}, prefix)
}

func closeConnections(t testing.TB, ctl func(context.Context, ...string) *exec.Cmd, prefix string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := ctl(ctx, "list_connections", "-q", "--no-table-headers", "pid", "client_properties").Output()
	if err != nil {
		t.Fatalf("rabbitmqctl list_connections: %v", err)
	}
	closed := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		pid, props, ok := strings.Cut(sc.Text(), "\t")
		if !ok || !strings.Contains(props, `{"connection_name","`+prefix) {
			continue
		}
		if out, err := ctl(ctx, "close_connection", pid, "dmzbridge test: forced close").CombinedOutput(); err != nil {
			t.Logf("close_connection %s: %v: %s", pid, err, out)
			continue
		}
		closed++
	}
	return closed
}

// Publisher publishes persistent messages with confirms on its own
// connection and reconnects when the broker drops it.
type Publisher struct {
	t    testing.TB
	url  string
	conn *amqp.Connection
	ch   *amqp.Channel
}

// NewPublisher returns a publisher; it connects on first use.
func NewPublisher(t testing.TB, url string) *Publisher {
	p := &Publisher{t: t, url: url}
	t.Cleanup(p.close)
	return p
}

func (p *Publisher) close() {
	if p.conn != nil {
		p.conn.Close()
	}
	p.conn, p.ch = nil, nil
}

func (p *Publisher) ensure() error {
	if p.ch != nil && !p.ch.IsClosed() {
		return nil
	}
	p.close()
	conn, err := amqp.Dial(p.url)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return err
	}
	if err := ch.Confirm(false); err != nil {
		conn.Close()
		return err
	}
	p.conn, p.ch = conn, ch
	return nil
}

// Publish sends msgs to exchange with routing key key and waits for every
// confirm. A batch that fails is sent again whole (same message ids) until
// it is confirmed or the deadline passes.
func (p *Publisher) Publish(exchange, key string, msgs []amqp.Publishing) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := p.try(exchange, key, msgs)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("publish to %s: %v", exchange, err)
		}
		p.close()
		time.Sleep(200 * time.Millisecond)
	}
}

func (p *Publisher) try(exchange, key string, msgs []amqp.Publishing) error {
	if err := p.ensure(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	confirms := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for _, m := range msgs {
		m.DeliveryMode = amqp.Persistent
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, m)
		if err != nil {
			return err
		}
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("broker nacked delivery tag %d", dc.DeliveryTag)
		}
	}
	return nil
}
