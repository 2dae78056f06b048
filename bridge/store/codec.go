package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"

	"github.com/nats-io/nats.go"
)

// maxErrorHeader caps error detail so a huge validator report cannot bloat
// every dead-letter entry.
const maxErrorHeader = 2048

// partnerHeaderPrefix namespaces the partner's own headers in storage.
const partnerHeaderPrefix = "Dmz-H-"

// DedupID is the Nats-Msg-Id of an event. JetStream deduplicates across
// the whole stream, so the id is scoped by partner: two partners that both
// number their messages from 1 (or share a Kafka topic name on different
// clusters) must never have one's events dropped as the other's duplicates.
func DedupID(partner, id string) string { return partner + "/" + id }

// ToMsg encodes an envelope as a JetStream message for subject. Bridge
// fields travel as Dmz-* headers, partner headers under Dmz-H-, and the
// trace context under its W3C names so NATS tooling can follow it.
func ToMsg(subject string, env *bridge.Envelope) *nats.Msg {
	// Room for the bridge's fields, the partner's headers and the three
	// batch headers the group-commit writer adds, so the map never grows.
	b := NewHeaderBuilder(8+len(env.Headers), 3)
	b.Set(bridge.HeaderMsgID, DedupID(env.Partner, env.ID))
	b.Set(bridge.HeaderOriginalID, env.ID)
	b.Set(bridge.HeaderPartner, env.Partner)
	b.Set(bridge.HeaderSource, env.Source)
	if env.EventType != "" {
		b.Set(bridge.HeaderEventType, env.EventType)
	}
	b.Set(bridge.HeaderReceivedAt, env.ReceivedAt.UTC().Format(time.RFC3339Nano))
	if env.Attempt > 0 {
		b.Set(bridge.HeaderAttempt, strconv.Itoa(env.Attempt))
	}
	for k, v := range env.Headers {
		switch k {
		case bridge.HeaderTraceParent, bridge.HeaderTraceState:
			b.Set(k, v)
		default:
			b.Set(partnerHeaderPrefix+k, v)
		}
	}
	return &nats.Msg{Subject: subject, Header: b.Header(), Data: env.Payload}
}

// HeaderBuilder fills a nats.Header whose values share one backing array:
// one allocation for all of a message's values instead of one per header
// (Header.Set allocates a slice each time), on the paths every event
// takes (the stored message, the ERP message). Each value's slice is
// capped at its length, so an Add to one header reallocates it instead of
// overwriting the next one's value.
type HeaderBuilder struct {
	h    nats.Header
	vals []string
}

// NewHeaderBuilder sizes the map for n values plus spare keys set later
// with Header.Set.
func NewHeaderBuilder(n, spare int) HeaderBuilder {
	return HeaderBuilder{h: make(nats.Header, n+spare), vals: make([]string, 0, n)}
}

// Header is the header built so far.
func (b *HeaderBuilder) Header() nats.Header { return b.h }

// Set sets header k to the single value v.
func (b *HeaderBuilder) Set(k, v string) {
	b.vals = append(b.vals, v)
	i := len(b.vals)
	b.h[k] = b.vals[i-1 : i : i]
}

// FromMsg decodes what ToMsg encoded.
func FromMsg(m *nats.Msg) (*bridge.Envelope, error) { return Decode(m.Subject, m.Header, m.Data) }

// Decode rebuilds an envelope from a stored message's parts.
func Decode(subject string, h nats.Header, data []byte) (*bridge.Envelope, error) {
	// Nats-Msg-Id is the storage key. A dead-letter entry or a replayed
	// event has one of its own (so the duplicate window does not swallow
	// it) and keeps the event's id in Dmz-Original-Id.
	id := h.Get(bridge.HeaderOriginalID)
	if id == "" {
		id = h.Get(bridge.HeaderMsgID)
	}
	env := &bridge.Envelope{
		ID:        id,
		Partner:   h.Get(bridge.HeaderPartner),
		Source:    h.Get(bridge.HeaderSource),
		EventType: h.Get(bridge.HeaderEventType),
		Payload:   data,
		Headers:   map[string]string{},
	}
	if env.ID == "" || env.Partner == "" {
		return nil, fmt.Errorf("stored message on %s lacks %s or %s", subject, bridge.HeaderMsgID, bridge.HeaderPartner)
	}
	if ts := h.Get(bridge.HeaderReceivedAt); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, fmt.Errorf("stored message %s: bad %s: %w", env.ID, bridge.HeaderReceivedAt, err)
		}
		env.ReceivedAt = t
	}
	if a := h.Get(bridge.HeaderAttempt); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil {
			return nil, fmt.Errorf("stored message %s: bad %s: %w", env.ID, bridge.HeaderAttempt, err)
		}
		env.Attempt = n
	}
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		switch {
		case k == bridge.HeaderTraceParent || k == bridge.HeaderTraceState:
			env.Headers[k] = vs[0]
		case strings.HasPrefix(k, partnerHeaderPrefix):
			env.Headers[strings.TrimPrefix(k, partnerHeaderPrefix)] = vs[0]
		}
	}
	return env, nil
}

// Failure describes why and when an event is dead-lettered.
type Failure struct {
	Rejection *bridge.Rejection
	// First and Last are the first and the latest failure; First defaults
	// to Last.
	First, Last time.Time
	// In is FailedAtIntake or FailedAtForward.
	In string
	// Key makes the entry's Nats-Msg-Id unique per failure: the same
	// failure stored twice (a retried write) is deduplicated, a new failure
	// of a replayed event is not. Defaults to the attempt count.
	Key string
}

// DeadLetterMsg encodes a rejected event with its reason. The payload is
// the original as received, so a replay can run it through the pipeline
// again with today's schemas and policy.
func DeadLetterMsg(subject string, env *bridge.Envelope, r *bridge.Rejection, firstFailure, now time.Time) *nats.Msg {
	return DeadLetterEntry(subject, env, Failure{Rejection: r, First: firstFailure, Last: now, In: bridge.FailedAtIntake})
}

// DeadLetterEntry encodes a dead-letter entry: the envelope as stored
// (partner, source, event type, received-at, attempts, trace context,
// partner headers, payload) plus reason, detail and failure times.
func DeadLetterEntry(subject string, env *bridge.Envelope, f Failure) *nats.Msg {
	m := ToMsg(subject, env)
	key := f.Key
	if key == "" {
		key = strconv.Itoa(env.Attempt)
	}
	// The dead-letter entry gets its own dedup id: the original id stays in
	// a header so a later replay of the same event is not swallowed.
	m.Header.Set(bridge.HeaderMsgID, "dlq-"+DedupID(env.Partner, env.ID)+"-"+key)
	m.Header.Set(bridge.HeaderOriginalID, env.ID)
	r := f.Rejection
	if r == nil {
		r = &bridge.Rejection{Reason: bridge.ReasonUnhandled}
	}
	m.Header.Set(bridge.HeaderReason, r.Reason)
	if r.Detail != "" {
		m.Header.Set(bridge.HeaderError, truncate(sanitizeHeader(r.Detail), maxErrorHeader))
	}
	first := f.First
	if first.IsZero() {
		first = f.Last
	}
	m.Header.Set(bridge.HeaderFirstFailure, first.UTC().Format(time.RFC3339Nano))
	m.Header.Set(bridge.HeaderLastFailure, f.Last.UTC().Format(time.RFC3339Nano))
	if f.In != "" {
		m.Header.Set(bridge.HeaderFailedIn, f.In)
	}
	if k := sealerFor(subject); k != nil {
		sealEntry(m, k)
	}
	return m
}

func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
