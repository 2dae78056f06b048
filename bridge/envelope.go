package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Header names the bridge itself sets on stored messages. Partner headers that
// collide with them are dropped at intake so a partner cannot forge them.
const (
	HeaderMsgID       = "Nats-Msg-Id"
	HeaderPartner     = "Dmz-Partner"
	HeaderSource      = "Dmz-Source"
	HeaderEventType   = "Dmz-Event-Type"
	HeaderReceivedAt  = "Dmz-Received-At"
	HeaderAttempt     = "Dmz-Attempt"
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
	// ReservedHeaderPrefix marks bridge-owned headers.
	ReservedHeaderPrefix = "Dmz-"
)

// Envelope is one partner event on its way through the bridge.
type Envelope struct {
	// ID identifies the event for deduplication; it becomes Nats-Msg-Id.
	ID string
	// Partner is the identity of the connector the event arrived on, never a
	// value taken from the payload.
	Partner string
	// Source names the inbound connector kind, e.g. "nats", "amqp", "kafka".
	Source string
	// EventType is the partner's event type such as "order.created"; it may be
	// empty until a routing stage fills it in.
	EventType  string
	ReceivedAt time.Time
	// Attempt counts forwarding attempts; 0 before the first.
	Attempt int
	// Headers are the partner's transport headers, including W3C traceparent.
	Headers map[string]string
	Payload []byte
	// Rejection is set by a source for a message it cannot hand on at all
	// (too large, redelivered too often): Submit stores it in the
	// dead-letter stream without running the stages, so the source can
	// acknowledge it instead of requeueing it forever.
	Rejection *Rejection
}

// TraceParent returns the W3C trace parent carried by the event, if any.
func (e *Envelope) TraceParent() string { return e.Headers[HeaderTraceParent] }

// ContentID derives a stable id from the payload when the transport gives
// none, so that a redelivered copy is deduplicated by JetStream.
func ContentID(partner string, payload []byte) string {
	h := sha256.New()
	h.Write([]byte(partner))
	h.Write([]byte{0})
	h.Write(payload)
	return "sha256-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// PayloadDigest is the hex SHA-256 of a payload, used in audit records so the
// record proves what was received without holding it.
func PayloadDigest(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
}
