package dlq

import (
	"context"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Recorder is told about every decision on an entry, for the audit trail.
// It must not receive unmasked payloads; the entry's clear metadata is
// what it may record.
type Recorder interface {
	Record(ctx context.Context, action string, e *Entry, r Result) error
}

// asyncRecorder is a Recorder that can keep records in flight: the
// pipelined commands use it when available.
type asyncRecorder interface {
	// RecordMsg returns the record as a message to store, keyed so that
	// storing it twice keeps one.
	RecordMsg(action string, e *Entry, r Result) (*nats.Msg, error)
}

// TrailRecorder records dead-letter decisions in the audit trail.
type TrailRecorder struct {
	Trail *audit.Trail
	// Stream is the dead-letter stream's name; with the entry's sequence
	// it keys each record, so a re-run never records a decision twice.
	Stream string
}

func (t TrailRecorder) record(action string, e *Entry, r Result) (audit.Record, string) {
	act := audit.ActionReplayed
	switch action {
	case "purge":
		act = audit.ActionPurged
	case "show":
		act = audit.ActionShown
	case "reseal":
		act = audit.ActionResealed
	}
	rec := audit.Record{
		Action: act, Partner: e.Partner, Connector: e.Source,
		MessageID: e.ID, EventType: e.EventType, PayloadSHA256: e.PayloadSHA256,
		Outcome: string(r.Outcome), Reason: r.Reason, Attempt: e.Attempts,
		TraceID: audit.TraceID(e.TraceParent),
	}
	return rec, "audit-dlq-" + action + "-" + t.Stream + "-" + strconv.FormatUint(e.Seq, 10) + "-" + string(r.Outcome)
}

// Record stores the record of one decision and waits until it is durable.
func (t TrailRecorder) Record(ctx context.Context, action string, e *Entry, r Result) error {
	rec, key := t.record(action, e, r)
	if action == "show" {
		// Every look is recorded, not only the first.
		key = ""
	}
	return t.Trail.Record(ctx, rec, key)
}

// RecordMsg is the record as a message, for the engine's writer.
func (t TrailRecorder) RecordMsg(action string, e *Entry, r Result) (*nats.Msg, error) {
	rec, key := t.record(action, e, r)
	return t.Trail.Msg(rec, key)
}

// OpenTrailRecorder opens the audit trail for the dlq commands, recording
// as operator.
func OpenTrailRecorder(ctx context.Context, js jetstream.JetStream, topo store.Topology, cfg *config.Config, operator string, now func() time.Time) (Recorder, error) {
	trail, err := audit.OpenTrail(ctx, js, topo, cfg, operator, now)
	if err != nil {
		return nil, err
	}
	return TrailRecorder{Trail: trail, Stream: topo.DeadLetterStream()}, nil
}
