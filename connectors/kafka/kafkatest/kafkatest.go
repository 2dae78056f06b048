// Package kafkatest runs an in-process Kafka broker (franz-go's kfake) for
// tests and publishes records to it with kafka-go, as a partner would.
package kafkatest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster is an in-process Kafka wire-protocol broker.
type Cluster struct {
	*kfake.Cluster
	Brokers []string
}

// Start starts a one-node cluster with the given topics of partitions
// partitions each, closed at the end of the test.
func Start(t testing.TB, partitions int32, topics []string, opts ...kfake.Opt) *Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, Brokers: c.ListenAddrs()}
}

// Record is one record a partner publishes.
type Record struct {
	Partition int // -1 lets the writer choose by key
	Key       string
	Value     []byte
	Headers   map[string]string
}

// Publisher writes records with acks from all in-sync replicas.
type Publisher struct {
	w *kafkago.Writer
}

// NewPublisher returns a publisher for topic on brokers; transport may be
// nil for plaintext without SASL.
func NewPublisher(t testing.TB, brokers []string, topic string, transport *kafkago.Transport) *Publisher {
	w := &kafkago.Writer{
		Addr:            kafkago.TCP(brokers...),
		Topic:           topic,
		Balancer:        &partitionBalancer{},
		RequiredAcks:    kafkago.RequireAll,
		BatchSize:       500,
		BatchTimeout:    2 * time.Millisecond,
		MaxAttempts:     20,
		WriteBackoffMin: 20 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
	}
	if transport != nil {
		w.Transport = transport
	}
	t.Cleanup(func() { _ = w.Close() })
	return &Publisher{w: w}
}

// Publish writes recs in order and returns once the broker acknowledged
// all of them. It retries the whole call on failure (a retried batch may
// duplicate records, as a real partner's retry would).
func (p *Publisher) Publish(t testing.TB, recs []Record) {
	t.Helper()
	msgs := make([]kafkago.Message, len(recs))
	for i, r := range recs {
		m := kafkago.Message{Value: r.Value, Partition: r.Partition}
		if r.Key != "" {
			m.Key = []byte(r.Key)
		}
		for k, v := range r.Headers {
			m.Headers = append(m.Headers, kafkago.Header{Key: k, Value: []byte(v)})
		}
		msgs[i] = m
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := p.w.WriteMessages(ctx, msgs...)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %d records: %v", len(msgs), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// partitionBalancer honours Record.Partition; -1 hashes the key.
type partitionBalancer struct{ hash kafkago.Hash }

func (b *partitionBalancer) Balance(msg kafkago.Message, partitions ...int) int {
	if msg.Partition >= 0 {
		return msg.Partition
	}
	return b.hash.Balance(msg, partitions...)
}

// DropConnections closes every client connection for d: each request
// that arrives meanwhile is answered by closing its connection.
func (c *Cluster) DropConnections(d time.Duration) int64 {
	until := time.Now().Add(d)
	var dropped atomic.Int64
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		if time.Now().After(until) {
			c.DropControl()
			return nil, nil, false
		}
		c.KeepControl()
		dropped.Add(1)
		return nil, fmt.Errorf("kafkatest: connection dropped"), true
	})
	time.Sleep(d)
	return dropped.Load()
}
