package bridge

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Dead-letter headers: what failed, why, and where it came from.
const (
	HeaderReason       = "Dmz-Reason"
	HeaderError        = "Dmz-Error"
	HeaderOriginalID   = "Dmz-Original-Id"
	HeaderFirstFailure = "Dmz-First-Failure"
	HeaderLastFailure  = "Dmz-Last-Failure"
)

// maxErrorHeader caps error detail so a huge validator report cannot bloat
// every dead-letter entry.
const maxErrorHeader = 2048

// partnerHeaderPrefix namespaces the partner's own headers in storage.
const partnerHeaderPrefix = "Dmz-H-"

// ToMsg encodes an envelope as a JetStream message for subject. Bridge
// fields travel as Dmz-* headers, partner headers under Dmz-H-, and the
// trace context under its W3C names so NATS tooling can follow it.
func ToMsg(subject string, env *Envelope) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = env.Payload
	h := m.Header
	h.Set(HeaderMsgID, env.ID)
	h.Set(HeaderPartner, env.Partner)
	h.Set(HeaderSource, env.Source)
	if env.EventType != "" {
		h.Set(HeaderEventType, env.EventType)
	}
	h.Set(HeaderReceivedAt, env.ReceivedAt.UTC().Format(time.RFC3339Nano))
	if env.Attempt > 0 {
		h.Set(HeaderAttempt, strconv.Itoa(env.Attempt))
	}
	for k, v := range env.Headers {
		switch k {
		case HeaderTraceParent, HeaderTraceState:
			h.Set(k, v)
		default:
			h.Set(partnerHeaderPrefix+k, v)
		}
	}
	return m
}

// FromMsg decodes what ToMsg encoded.
func FromMsg(m *nats.Msg) (*Envelope, error) { return Decode(m.Subject, m.Header, m.Data) }

// Decode rebuilds an envelope from a stored message's parts.
func Decode(subject string, h nats.Header, data []byte) (*Envelope, error) {
	env := &Envelope{
		ID:        h.Get(HeaderMsgID),
		Partner:   h.Get(HeaderPartner),
		Source:    h.Get(HeaderSource),
		EventType: h.Get(HeaderEventType),
		Payload:   data,
		Headers:   map[string]string{},
	}
	if env.ID == "" || env.Partner == "" {
		return nil, fmt.Errorf("stored message on %s lacks %s or %s", subject, HeaderMsgID, HeaderPartner)
	}
	if ts := h.Get(HeaderReceivedAt); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, fmt.Errorf("stored message %s: bad %s: %w", env.ID, HeaderReceivedAt, err)
		}
		env.ReceivedAt = t
	}
	if a := h.Get(HeaderAttempt); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil {
			return nil, fmt.Errorf("stored message %s: bad %s: %w", env.ID, HeaderAttempt, err)
		}
		env.Attempt = n
	}
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		switch {
		case k == HeaderTraceParent || k == HeaderTraceState:
			env.Headers[k] = vs[0]
		case strings.HasPrefix(k, partnerHeaderPrefix):
			env.Headers[strings.TrimPrefix(k, partnerHeaderPrefix)] = vs[0]
		}
	}
	return env, nil
}

// DeadLetterMsg encodes a rejected event with its reason. The payload is
// the original as received, so a replay can run it through the pipeline
// again with today's schemas and policy.
func DeadLetterMsg(subject string, env *Envelope, r *Rejection, firstFailure, now time.Time) *nats.Msg {
	m := ToMsg(subject, env)
	// The dead-letter entry gets its own dedup id: the original id stays in
	// a header so a later replay of the same event is not swallowed.
	m.Header.Set(HeaderMsgID, "dlq-"+env.ID+"-"+strconv.Itoa(env.Attempt))
	m.Header.Set(HeaderOriginalID, env.ID)
	m.Header.Set(HeaderReason, r.Reason)
	if r.Detail != "" {
		m.Header.Set(HeaderError, truncate(sanitizeHeader(r.Detail), maxErrorHeader))
	}
	if firstFailure.IsZero() {
		firstFailure = now
	}
	m.Header.Set(HeaderFirstFailure, firstFailure.UTC().Format(time.RFC3339Nano))
	m.Header.Set(HeaderLastFailure, now.UTC().Format(time.RFC3339Nano))
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
