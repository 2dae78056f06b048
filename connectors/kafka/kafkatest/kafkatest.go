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

// GroupLag sums, over topic's partitions, the end offset minus group's
// committed offset (a partition without a commit counts from 0).
func GroupLag(ctx context.Context, brokers []string, group, topic string) (int64, error) {
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return 0, fmt.Errorf("metadata of %s: %+v", topic, md.Topics)
	}
	var parts []int
	var reqs []kafkago.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
		reqs = append(reqs, kafkago.LastOffsetOf(p.ID))
	}
	ends, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, fmt.Errorf("list offsets: %w", err)
	}
	committed, err := cl.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return 0, fmt.Errorf("offset fetch: %w", err)
	}
	done := map[int]int64{}
	for _, p := range committed.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("offset fetch partition %d: %w", p.Partition, p.Error)
		}
		done[p.Partition] = max(p.CommittedOffset, 0)
	}
	var lag int64
	for _, p := range ends.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("list offsets partition %d: %w", p.Partition, p.Error)
		}
		lag += p.LastOffset - done[p.Partition]
	}
	return lag, nil
}

// GroupAssignments returns group's state and, per member, how many
// partitions it is assigned.
func GroupAssignments(ctx context.Context, brokers []string, group string) (string, map[string]int, error) {
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := cl.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return "", nil, fmt.Errorf("describe group %s: %w", group, err)
	}
	if len(resp.Groups) != 1 || resp.Groups[0].Error != nil {
		return "", nil, fmt.Errorf("describe group %s: %+v", group, resp.Groups)
	}
	g := resp.Groups[0]
	out := map[string]int{}
	for _, m := range g.Members {
		n := 0
		for _, t := range m.MemberAssignments.Topics {
			n += len(t.Partitions)
		}
		out[m.MemberID] = n
	}
	return g.GroupState, out, nil
}
