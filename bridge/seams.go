package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Intake is what a Source hands its messages to. It is implemented by the
// pipeline; connectors depend only on this interface.
type Intake interface {
	// Submit passes one event to the pipeline. It blocks while the pipeline's
	// in-flight window is full, which is how backpressure reaches the source.
	// done is called exactly once, from any goroutine: with nil once the event
	// is durably stored (forwardable or dead-lettered), so the source may
	// acknowledge it; with an error when it was not stored, so the source
	// must let its broker redeliver it. A non-nil return from Submit means
	// done will not be called.
	Submit(ctx context.Context, env *Envelope, done func(error)) error
}

// Source is an inbound connector bound to one partner.
type Source interface {
	// Run consumes until ctx is cancelled, then stops taking new messages
	// and returns. It reconnects by itself after broker outages; it returns
	// an error only for a failure it cannot recover from.
	Run(ctx context.Context, in Intake) error
}

// Stage transforms or checks an event before it is persisted as
// forwardable. Returning a *Rejection sends the event to the dead-letter
// stream; any other error is treated as transient and the event is not
// acknowledged to its source.
type Stage interface {
	Name() string
	Process(ctx context.Context, env *Envelope) error
}

// StageFunc adapts a function to Stage.
type StageFunc struct {
	StageName string
	Fn        func(ctx context.Context, env *Envelope) error
}

func (s StageFunc) Name() string                                     { return s.StageName }
func (s StageFunc) Process(ctx context.Context, env *Envelope) error { return s.Fn(ctx, env) }

// ERPMessage is the normalized event handed to the ERP sink.
type ERPMessage struct {
	ID        string
	Partner   string
	EventType string
	Headers   map[string]string
	Body      []byte
}

// Sink is the single outbound connector towards the ERP. It only publishes:
// the ERP link is one-way.
type Sink interface {
	// Publish sends the batch and waits for the broker's confirmation of
	// each message. It returns nil when every message is confirmed,
	// otherwise a slice with one entry per message, nil where confirmed.
	Publish(ctx context.Context, batch []*ERPMessage) []error
	// Ready reports whether the sink currently has a usable connection.
	Ready() error
	Close() error
}

// Reason codes are stable: operators filter and alert on them.
const (
	ReasonMalformed       = "malformed"
	ReasonTooLarge        = "too_large"
	ReasonUnknownType     = "unknown_type"
	ReasonTypeNotAllowed  = "type_not_allowed"
	ReasonSchemaInvalid   = "schema_invalid"
	ReasonPartnerMismatch = "partner_mismatch"
	ReasonMaxAttempts     = "max_attempts"
	ReasonUnhandled       = "unhandled"
	// ReasonRedelivered: the source's broker delivered the message more
	// often than the connector's limit without it being stored.
	ReasonRedelivered = "redelivery_limit"
)

// Rejection is a permanent failure: the event goes to the dead-letter stream
// with Reason as a stable code and Detail as human-readable context.
type Rejection struct {
	Reason string
	Detail string
}

func (r *Rejection) Error() string {
	if r.Detail == "" {
		return r.Reason
	}
	return fmt.Sprintf("%s: %s", r.Reason, r.Detail)
}

// Reject builds a Rejection.
func Reject(reason, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// AsRejection reports whether err is a permanent rejection.
func AsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}

// ExpandTarget fills a sink's subject or routing-key template: {partner}
// with the partner's name, {type} with the event type. It runs once per
// forwarded event, so it avoids building a strings.Replacer each time.
// Partner names cannot hold braces, so expanding {partner} first cannot
// touch a {type} that a partner-supplied event type might spell out.
func ExpandTarget(template, partner, eventType string) string {
	if !strings.Contains(template, "{") {
		return template
	}
	return strings.ReplaceAll(strings.ReplaceAll(template, "{partner}", partner), "{type}", eventType)
}

// Normalizer turns a stored event into the message the ERP receives.
type Normalizer func(env *Envelope) (*ERPMessage, error)

// PassThrough hands the stored payload to the ERP unchanged, with the
// bridge's identity headers. Validation and masking replace it with the
// CloudEvents normalizer.
func PassThrough(env *Envelope) (*ERPMessage, error) {
	h := map[string]string{
		HeaderPartner: env.Partner,
		HeaderSource:  env.Source,
	}
	if env.EventType != "" {
		h[HeaderEventType] = env.EventType
	}
	if tp := env.TraceParent(); tp != "" {
		h[HeaderTraceParent] = tp
	}
	return &ERPMessage{ID: env.ID, Partner: env.Partner, EventType: env.EventType, Headers: h, Body: env.Payload}, nil
}
