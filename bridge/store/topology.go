package store

import (
	"context"
	"errors"
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

// StreamOf names the bridge stream that holds subject, so writes to one
// stream can be batched together; a subject of no bridge stream is its own
// group.
func (t Topology) StreamOf(subject string) string {
	switch {
	case strings.HasPrefix(subject, t.IngestSubject("")):
		return t.IngestStream()
	case strings.HasPrefix(subject, t.DeadLetterSubject("")):
		return t.DeadLetterStream()
	}
	return subject
}

// ForwarderConsumer is the durable consumer that feeds a partner's events
// to the ERP; bridge replicas share it as a work queue.
func (t Topology) ForwarderConsumer(partner string) string { return "erp-" + partner }

// IngestConfig is the ingest stream definition. Confirmed events leave it
// by a periodic purge up to each partner's ack floor (see forward's compactor), not
// one deletion per acknowledgement as on a work queue, which under
// sync_interval: always would cost one synchronous disk write per event.
// Bridge replicas still share each partner's durable consumer as a work
// queue.
func (t Topology) IngestConfig(js config.JetStream) jetstream.StreamConfig {
	return t.stream(js, t.IngestStream(), "dmzbridge: partner events waiting for the ERP", ".ingest.>", js.Ingest)
}

// DeadLetterConfig is the dead-letter stream definition.
func (t Topology) DeadLetterConfig(js config.JetStream) jetstream.StreamConfig {
	return t.stream(js, t.DeadLetterStream(), "dmzbridge: events that could not be delivered, with the reason", ".dlq.>", js.DeadLetter)
}

// stream is the shape the ingest and dead-letter streams share. Refusing
// new messages when full keeps the oldest events and evidence and makes the
// condition visible instead of silently dropping them. Group commit (atomic
// batch publish) is allowed; servers before 2.12 ignore it and the bridge
// then publishes one message at a time.
func (t Topology) stream(js config.JetStream, name, description, subjects string, r config.Retention) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               name,
		Description:        description,
		Subjects:           []string{t.subjectRoot() + subjects},
		Retention:          jetstream.LimitsPolicy,
		Storage:            jetstream.FileStorage,
		Replicas:           js.Replicas,
		Duplicates:         js.DuplicateWindow,
		MaxAge:             r.MaxAge,
		MaxBytes:           orUnlimited(r.MaxBytes),
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
		if sc.Name == t.IngestStream() {
			if err := checkIngestRetention(ctx, js, sc.Name); err != nil {
				return err
			}
		}
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("create or update stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// ErrWorkQueueIngest reports an ingest stream made by an earlier version,
// whose work-queue retention JetStream cannot change in place.
var ErrWorkQueueIngest = errors.New("ingest stream has work-queue retention")

func checkIngestRetention(ctx context.Context, js jetstream.JetStream, name string) error {
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", name, err)
	}
	if st.CachedInfo().Config.Retention != jetstream.WorkQueuePolicy {
		return nil
	}
	return fmt.Errorf("%w: stream %s was created by an earlier dmzbridge; JetStream cannot change retention in place. "+
		"Let the bridge of that version drain it (dmzbridge status shows backlog 0), then delete the stream (nats stream rm %s), "+
		"or use a new jetstream.stream_prefix", ErrWorkQueueIngest, name, name)
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
