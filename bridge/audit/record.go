// Package audit keeps the bridge's audit trail: one record per decision
// (received, forwarded, dead-lettered, replayed, purged) in its own
// JetStream stream with long retention. A record names who and what —
// partner, connector, message id, event type, a SHA-256 of the payload —
// never the payload itself, so it cannot leak a sensitive value.
package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Actions recorded in the trail.
const (
	ActionReceived     = "received"
	ActionForwarded    = "forwarded"
	ActionDeadLettered = "dead_lettered"
	ActionReplayed     = "replayed"
	ActionPurged       = "purged"
	// ActionReload is a configuration reload; its Partner is BridgePartner.
	ActionReload = "reload"
)

// BridgePartner stands for the bridge itself in records of bridge-wide
// actions; a partner name cannot start with '_'.
const BridgePartner = "_bridge"

// Outcomes of the pipeline's own decisions; dead-letter records carry the
// rejection's reason code as outcome instead.
const (
	OutcomeAccepted  = "accepted"
	OutcomeConfirmed = "confirmed"
	OutcomeOK        = "ok"
	OutcomeFailed    = "failed"
)

// Record is one audit entry.
type Record struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	// Partner is the identity of the connector the event arrived on.
	Partner   string `json:"partner"`
	Connector string `json:"connector,omitempty"`
	MessageID string `json:"message_id"`
	EventType string `json:"event_type,omitempty"`
	// PayloadSHA256 proves which payload was handled without holding it.
	PayloadSHA256 string `json:"payload_sha256,omitempty"`
	Outcome       string `json:"outcome"`
	// Reason is the stable reason code of a dead-letter decision; the
	// free-text detail is deliberately not kept: it may quote the payload.
	Reason  string `json:"reason,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	TraceID string `json:"trace_id,omitempty"`
	// Operator is the person behind a CLI action (replay, purge).
	Operator string `json:"operator,omitempty"`
	// Changes summarizes a reload: fields and partners, never values.
	Changes string `json:"changes,omitempty"`
}

// AppendJSON appends the record as one JSON object, the same fields,
// order and omissions as encoding/json gives (the audit query reads it with
// encoding/json). Written by hand: reflection-based encoding of two
// records per event was a visible share of the pipeline's CPU and
// allocations.
func (r *Record) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","action":`...)
	b = jsontext.AppendString(b, r.Action)
	b = append(b, `,"partner":`...)
	b = jsontext.AppendString(b, r.Partner)
	b = appendOptional(b, `,"connector":`, r.Connector)
	b = append(b, `,"message_id":`...)
	b = jsontext.AppendString(b, r.MessageID)
	b = appendOptional(b, `,"event_type":`, r.EventType)
	b = appendOptional(b, `,"payload_sha256":`, r.PayloadSHA256)
	b = append(b, `,"outcome":`...)
	b = jsontext.AppendString(b, r.Outcome)
	b = appendOptional(b, `,"reason":`, r.Reason)
	if r.Attempt != 0 {
		b = append(b, `,"attempt":`...)
		b = strconv.AppendInt(b, int64(r.Attempt), 10)
	}
	b = appendOptional(b, `,"trace_id":`, r.TraceID)
	b = appendOptional(b, `,"operator":`, r.Operator)
	b = appendOptional(b, `,"changes":`, r.Changes)
	return append(b, '}')
}

func appendOptional(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return jsontext.AppendString(append(b, key...), v)
}

// FromEnvelope fills the identity fields of a record from an envelope.
func FromEnvelope(action, outcome string, env *bridge.Envelope, now time.Time) Record {
	return Record{
		Time: now.UTC(), Action: action, Partner: env.Partner, Connector: env.Source,
		MessageID: env.ID, EventType: env.EventType, PayloadSHA256: bridge.PayloadDigest(env.Payload),
		Outcome: outcome, Attempt: env.Attempt, TraceID: TraceID(env.TraceParent()),
	}
}

// TraceID extracts the trace id of a W3C traceparent ("00-<trace>-<span>-<flags>").
// It runs for two records per event, so it cuts the string instead of
// splitting it into a slice.
func TraceID(traceparent string) string {
	if strings.Count(traceparent, "-") != 3 {
		return ""
	}
	_, rest, _ := strings.Cut(traceparent, "-")
	id, _, _ := strings.Cut(rest, "-")
	if len(id) != 32 {
		return ""
	}
	return id
}

// DefaultMaxAge keeps the trail for a year unless configured otherwise.
const DefaultMaxAge = 365 * 24 * time.Hour

// Stream is the audit stream's name for a topology.
func Stream(t store.Topology) string { return t.Prefix + "_AUDIT" }

func subjectRoot(t store.Topology) string { return strings.ToLower(t.Prefix) + ".audit" }

// Subject is where one partner's audit batches are stored. Batches are per
// partner so a query by partner reads only that partner's subject.
func Subject(t store.Topology, partner string) string { return subjectRoot(t) + "." + partner }

// StreamConfig is the audit stream definition: limits retention, long by
// default, discarding the oldest records when a size limit is reached so
// the bridge never stops because its trail is full.
func StreamConfig(t store.Topology, js config.JetStream, ret config.Retention) jetstream.StreamConfig {
	maxAge := ret.MaxAge
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	maxBytes := ret.MaxBytes
	if maxBytes <= 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        Stream(t),
		Description: "dmzbridge: audit trail, one record per decision",
		Subjects:    []string{subjectRoot(t) + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    js.Replicas,
		Duplicates:  js.DuplicateWindow,
		MaxAge:      maxAge,
		MaxBytes:    maxBytes,
		Discard:     jetstream.DiscardOld,
		// dlq replay, purge and reseal group-commit their records.
		AllowAtomicPublish: true,
	}
}

// EnsureStream creates or updates the audit stream; it is idempotent.
func EnsureStream(ctx context.Context, js jetstream.JetStream, t store.Topology, cfg config.JetStream, ret config.Retention) error {
	sc := StreamConfig(t, cfg, ret)
	if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("create or update stream %s: %w", sc.Name, err)
	}
	return nil
}
