package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	kafkago "github.com/segmentio/kafka-go"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/connkit"
)

// Header names under which Kafka record metadata travels in the envelope.
const (
	HeaderTopic     = "Kafka-Topic"
	HeaderPartition = "Kafka-Partition"
	HeaderOffset    = "Kafka-Offset"
	HeaderKey       = "Kafka-Key"
	HeaderTimestamp = "Kafka-Timestamp"
)

// Source consumes one partner's Kafka topics as a member of a consumer
// group.
//
// Delivery: a record is submitted in fetch order (so per partition in
// offset order) and its offset is committed only when it and every record
// fetched before it from its partition are stored. When the pipeline
// reports a record as not stored, the source stops fetching, commits what
// is stored, closes the reader and, after a backoff, creates a new one:
// kafka-go cannot seek within a group, so rejoining is how the record is
// fetched again from the last committed offset. Records after it that were
// stored meanwhile come again too and are deduplicated by JetStream by
// their id.
type Source struct {
	opts   SourceOptions
	spec   bridge.SourceSpec
	log    *slog.Logger
	dialer *kafkago.Dialer
	// link: connected while a reader is a member of the group and fetching;
	// waiting while the source waits out its backoff after the reader
	// failed or a record was not stored.
	link *connkit.Link
	// counts holds fetches per topic/partition/offset of records not yet
	// stored, for max_deliveries.
	counts connkit.Deliveries
	// committed counts offset commits that succeeded.
	committed atomic.Int64
}

// NewSource decodes and validates options; it does not connect.
func NewSource(node *yaml.Node, spec bridge.SourceSpec) (bridge.Source, error) {
	var o SourceOptions
	if err := connkit.DecodeOptions(node, &o, func() { o.defaults(spec.Partner) }, o.validate); err != nil {
		return nil, err
	}
	d, err := o.dialer()
	if err != nil {
		return nil, config.FieldErrors{{Path: "tls", Msg: err.Error()}}
	}
	log := connkit.Logger(spec.Logger).With("connector", Name, "partner", spec.Partner, "group", o.GroupID)
	rc := o.readerConfig(d, log)
	if err := rc.Validate(); err != nil {
		return nil, config.FieldErrors{{Msg: err.Error()}}
	}
	return &Source{
		opts: o, spec: spec, log: log, dialer: d,
		link: connkit.NewLink(),
	}, nil
}

// State implements bridge.StateReporter: up while a reader runs, down
// while the source waits out its backoff after a failed reader. kafka-go
// retries a lost broker inside the reader, so a broker outage shows as
// down only once the reader gives up with an error.
func (s *Source) State() string { return s.link.State() }

// Snapshot is the source's state for health checks and tests; Connects
// counts readers created, more than one means restarts.
func (s *Source) Snapshot() connkit.State { return s.link.Snapshot() }

// Committed counts offset commits that succeeded.
func (s *Source) Committed() int { return int(s.committed.Load()) }

// errNotStored ends a session after the pipeline failed to store a record.
var errNotStored = errors.New("a record was not stored; rejoining to fetch it again")

// Run implements bridge.Source.
func (s *Source) Run(ctx context.Context, in bridge.Intake) error {
	r := connkit.Reconnect{Initial: s.opts.RestartInitial, Max: s.opts.RestartMax, Ended: "kafka reader ended, recreating it"}
	s.link.Run(ctx, r, s.log, func(ctx context.Context) (bool, error) { return s.session(ctx, in) })
	return nil
}

// session runs one reader until ctx ends, the reader fails or a record is
// not stored. progressed reports whether anything was stored.
func (s *Source) session(ctx context.Context, in bridge.Intake) (progressed bool, err error) {
	r := kafkago.NewReader(s.opts.readerConfig(s.dialer, s.log))
	s.link.Set(connkit.PhaseConnected, nil)
	s.log.Info("joining consumer group", "topics", s.opts.Topics, "brokers", s.opts.Brokers)

	tr := newTracker()
	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	slots := make(chan struct{}, s.opts.MaxInFlight)

	commitCtx, stopCommitter := context.WithCancel(context.WithoutCancel(ctx))
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		s.committer(commitCtx, r, tr)
	}()

	err = s.fetchLoop(fetchCtx, in, r, tr, slots, stopFetch)
	if err == nil && tr.hasFailed() {
		err = errNotStored
	}

	// Let the pipeline settle what it holds so it is committed rather than
	// fetched again; at shutdown only for drain_timeout.
	waitCtx := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(waitCtx, s.opts.DrainTimeout)
		defer cancel()
	} else {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	if !waitSettled(waitCtx, tr) {
		s.log.Warn("records still held by the pipeline are fetched again later", "pending", tr.pendingCount())
	}
	stopCommitter()
	<-committerDone
	s.commit(r, tr, 10*time.Second)
	if cerr := r.Close(); cerr != nil {
		s.log.Debug("close reader", "err", cerr)
	}
	return tr.storedCount() > 0, err
}

// fetchLoop fetches and submits records until ctx ends or a record fails.
func (s *Source) fetchLoop(ctx context.Context, in bridge.Intake, r *kafkago.Reader, tr *tracker, slots chan struct{}, stop context.CancelFunc) error {
	for {
		// A slot per record not yet settled: when they are all taken the
		// reader is not asked for more (backpressure).
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		m, err := r.FetchMessage(ctx)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("fetch: %w", err)
		}
		env := s.envelope(m)
		rec := tr.add(m.Topic, m.Partition, m.Offset)
		err = s.link.Submit(ctx, in, env, func(err error) {
			<-slots
			if err == nil {
				s.forget(m)
			}
			if tr.settle(m.Topic, m.Partition, rec, err == nil) {
				s.log.Warn("record not stored; stopping to fetch it again", "id", env.ID,
					"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
				stop()
			}
		})
		if err != nil && ctx.Err() != nil {
			return nil
		}
	}
}

// committer commits stored offsets every commit_interval, one request for
// every partition, until ctx ends.
func (s *Source) committer(ctx context.Context, r *kafkago.Reader, tr *tracker) {
	t := time.NewTicker(s.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.commit(r, tr, 10*time.Second)
		}
	}
}

// commit sends what the tracker allows. A failed commit is retried with
// the then current offsets on the next tick: the records are stored, so
// the worst outcome of a lost commit is a duplicate that JetStream drops.
func (s *Source) commit(r *kafkago.Reader, tr *tracker, timeout time.Duration) {
	offs := tr.committable()
	if len(offs) == 0 {
		return
	}
	msgs := make([]kafkago.Message, 0, len(offs))
	for k, off := range offs {
		msgs = append(msgs, kafkago.Message{Topic: k.topic, Partition: k.partition, Offset: off})
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := r.CommitMessages(ctx, msgs...); err != nil {
		s.log.Debug("offset commit failed; retried with the next one", "err", err)
		return
	}
	tr.committed(offs)
	s.committed.Add(1)
}

func waitSettled(ctx context.Context, tr *tracker) bool {
	for tr.pendingCount() > 0 {
		select {
		case <-ctx.Done():
			return tr.pendingCount() == 0
		case <-tr.settled:
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}

// RecordID is the id of a record without an id header.
func RecordID(topic string, partition int, offset int64) string {
	return topic + "/" + strconv.Itoa(partition) + "/" + strconv.FormatInt(offset, 10)
}

// envelope turns a record into an envelope. Every record yields one; one
// the pipeline must not store as forwardable carries a Rejection.
func (s *Source) envelope(m kafkago.Message) *bridge.Envelope {
	env := &bridge.Envelope{
		Partner: s.spec.Partner,
		Source:  Name,
		Payload: m.Value,
		Headers: make(map[string]string, len(m.Headers)+5),
	}
	for _, h := range m.Headers {
		if !bridge.ValidHeaderKey(h.Key) || !utf8.Valid(h.Value) {
			continue
		}
		if v := bridge.CleanHeaderValue(string(h.Value)); v != "" {
			env.Headers[h.Key] = v
		}
	}
	env.Headers[HeaderTopic] = m.Topic
	env.Headers[HeaderPartition] = strconv.Itoa(m.Partition)
	env.Headers[HeaderOffset] = strconv.FormatInt(m.Offset, 10)
	if len(m.Key) > 0 && utf8.Valid(m.Key) {
		if k := bridge.CleanHeaderValue(string(m.Key)); k != "" && len(k) <= 256 {
			env.Headers[HeaderKey] = k
		}
	}
	if !m.Time.IsZero() {
		env.Headers[HeaderTimestamp] = m.Time.UTC().Format(time.RFC3339Nano)
	}
	if s.opts.IDHeader != "" {
		env.ID = env.Headers[s.opts.IDHeader]
	}
	if env.ID == "" && s.opts.IDFromKey {
		env.ID = env.Headers[HeaderKey]
	}
	if env.ID == "" {
		env.ID = RecordID(m.Topic, m.Partition, m.Offset)
	}
	bridge.SetPartnerMessageID(env, env.ID)
	if len(m.Value) > s.opts.MaxMessageBytes {
		env.Rejection = bridge.Reject(bridge.ReasonTooLarge, "record of %d bytes exceeds max_message_bytes %d (sha256 %s)",
			len(m.Value), s.opts.MaxMessageBytes, bridge.PayloadDigest(m.Value))
		env.Payload = nil
	}
	connkit.RejectRedelivered(env, s.counts.Count(RecordID(m.Topic, m.Partition, m.Offset)), s.opts.MaxDeliveries, "fetched")
	return env
}

func (s *Source) forget(m kafkago.Message) { s.counts.Forget(RecordID(m.Topic, m.Partition, m.Offset)) }
