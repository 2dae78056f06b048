package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Actions of operators on dead-letter entries, besides replayed and purged.
const (
	// ActionShown: an operator unsealed an entry to look at it (dlq show).
	ActionShown = "shown"
	// ActionResealed: an entry was rewritten under the current sealing key.
	ActionResealed = "resealed"
)

// Trail records operators' decisions (replay, purge, show, reseal) in the
// audit stream, one stored message per decision. Each record is published
// with a message id of the caller's choosing, so a re-run of an
// interrupted command that meets the same entry again does not record its
// decision twice.
type Trail struct {
	js       jetstream.JetStream
	topo     store.Topology
	operator string
	now      func() time.Time
}

// OpenTrail opens the audit trail for operator. With a config the audit
// stream is created when missing (as the bridge would); without one it
// must exist.
func OpenTrail(ctx context.Context, js jetstream.JetStream, topo store.Topology, cfg *config.Config, operator string, now func() time.Time) (*Trail, error) {
	if cfg != nil {
		if err := EnsureStream(ctx, js, topo, cfg.JetStream, cfg.JetStream.Audit); err != nil {
			return nil, fmt.Errorf("audit trail: %w", err)
		}
	} else if _, err := js.Stream(ctx, Stream(topo)); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("audit stream %s not found: give --config so it can be created, or start the bridge once", Stream(topo))
		}
		return nil, fmt.Errorf("audit stream %s: %w", Stream(topo), err)
	}
	if now == nil {
		now = time.Now
	}
	return &Trail{js: js, topo: topo, operator: operator, now: now}, nil
}

// Operator is who the trail records as acting.
func (a *Trail) Operator() string { return a.operator }

// Msg is rec as the message Record would store, for callers that write
// records through their own (batching) writer.
func (a *Trail) Msg(rec Record, key string) (*nats.Msg, error) {
	rec.Time = a.now().UTC()
	rec.Operator = a.operator
	data, err := json.Marshal(&rec)
	if err != nil {
		return nil, err
	}
	partner := rec.Partner
	if partner == "" {
		partner = "_unknown"
	}
	msg := nats.NewMsg(Subject(a.topo, partner))
	msg.Data = append(data, '\n')
	if key != "" {
		msg.Header.Set(nats.MsgIdHdr, key)
	}
	return msg, nil
}

// Record stores rec and waits until it is durable.
func (a *Trail) Record(ctx context.Context, rec Record, key string) error {
	msg, err := a.Msg(rec, key)
	if err != nil {
		return err
	}
	if _, err := a.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("store audit record: %w", err)
	}
	return nil
}
