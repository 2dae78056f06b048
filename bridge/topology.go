package bridge

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Topology names the bridge's JetStream streams, subjects and consumers.
// One prefix keeps several bridges (or test runs) apart on one server.
type Topology struct {
	Prefix string
}

// NewTopology derives names from a stream prefix such as "DMZ".
func NewTopology(prefix string) Topology { return Topology{Prefix: prefix} }

func (t Topology) subjectRoot() string { return strings.ToLower(t.Prefix) }

// IngestStream holds events validated and waiting for the ERP.
func (t Topology) IngestStream() string { return t.Prefix + "_INGEST" }

// DeadLetterStream holds events that cannot go through, with the reason.
func (t Topology) DeadLetterStream() string { return t.Prefix + "_DLQ" }

// IngestSubject is where a partner's forwardable events are stored.
func (t Topology) IngestSubject(partner string) string {
	return t.subjectRoot() + ".ingest." + partner
}

// DeadLetterSubject is where a partner's rejected events are stored.
func (t Topology) DeadLetterSubject(partner string) string {
	return t.subjectRoot() + ".dlq." + partner
}

// ForwarderConsumer is the durable consumer that feeds a partner's events
// to the ERP; bridge replicas share it as a work queue.
func (t Topology) ForwarderConsumer(partner string) string { return "erp-" + partner }

// IngestConfig is the ingest stream definition. It is a work queue: an
// event leaves the stream once the ERP has confirmed it.
func (t Topology) IngestConfig(js config.JetStream) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        t.IngestStream(),
		Description: "dmzbridge: partner events waiting for the ERP",
		Subjects:    []string{t.subjectRoot() + ".ingest.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    js.Replicas,
		Duplicates:  js.DuplicateWindow,
		MaxAge:      js.Ingest.MaxAge,
		MaxBytes:    orUnlimited(js.Ingest.MaxBytes),
		Discard:     jetstream.DiscardNew,
		// Group commit (atomic batch publish); servers before 2.12 ignore it
		// and the bridge then publishes one message at a time.
		AllowAtomicPublish: true,
	}
}

// DeadLetterConfig is the dead-letter stream definition.
func (t Topology) DeadLetterConfig(js config.JetStream) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        t.DeadLetterStream(),
		Description: "dmzbridge: events that could not be delivered, with the reason",
		Subjects:    []string{t.subjectRoot() + ".dlq.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    js.Replicas,
		Duplicates:  js.DuplicateWindow,
		MaxAge:      js.DeadLetter.MaxAge,
		MaxBytes:    orUnlimited(js.DeadLetter.MaxBytes),
		// Refusing new entries when full keeps the oldest evidence and makes
		// the condition visible instead of silently dropping old failures.
		Discard:            jetstream.DiscardNew,
		AllowAtomicPublish: true,
	}
}

func orUnlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// EnsureStreams creates or updates the bridge's streams; it is idempotent.
func (t Topology) EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg config.JetStream) error {
	for _, sc := range []jetstream.StreamConfig{t.IngestConfig(cfg), t.DeadLetterConfig(cfg)} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("create or update stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// ForwarderConsumerConfig is the durable pull consumer for one partner.
func (t Topology) ForwarderConsumerConfig(partner string, f config.Forward) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       t.ForwarderConsumer(partner),
		Description:   "dmzbridge: forwards " + partner + " events to the ERP",
		FilterSubject: t.IngestSubject(partner),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       f.AckWait,
		MaxAckPending: f.MaxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Metadata:      map[string]string{"managed-by": "dmzbridge"},
	}
}
