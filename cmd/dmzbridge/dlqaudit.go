package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/dlq"
	"github.com/dmzbridge/dmzbridge/bridge/mask"
)

// policyMasker compiles every partner's masking policy from the config, so
// `dlq show` masks what the pipeline would mask. A policy that cannot be
// compiled here (its HMAC key variable is not set for the operator) is
// reported and left out; the generic rules still apply.
func policyMasker(cfg *config.Config) (func(partner, eventType string, doc any) any, error) {
	policies := map[string]*mask.Policy{}
	var errs []error
	for i, p := range cfg.Partners {
		pol, err := mask.Compile("partners["+strconv.Itoa(i)+"].masking", p.Masking, os.Getenv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		policies[p.Name] = pol
	}
	apply := func(partner, eventType string, doc any) any {
		if pol, ok := policies[partner]; ok {
			return pol.Apply(eventType, doc)
		}
		return doc
	}
	return apply, errors.Join(errs...)
}

// auditTrail records replay and purge decisions in the bridge's audit
// stream, one stored message per decision, synchronously: the CLI may be
// killed at any moment and must not lose a record it already acted on.
type auditTrail struct {
	js       jetstream.JetStream
	topo     bridge.Topology
	operator string
	now      func() time.Time
}

// auditRecorder opens the audit trail. With a config the audit stream is
// created when missing (as the bridge would); without one it must exist.
func auditRecorder(ctx context.Context, js jetstream.JetStream, topo bridge.Topology, cfg *config.Config, operator string, now func() time.Time) (dlq.Recorder, error) {
	if cfg != nil {
		if err := audit.EnsureStream(ctx, js, topo, cfg.JetStream, cfg.JetStream.Audit); err != nil {
			return nil, fmt.Errorf("audit trail: %w", err)
		}
	} else if _, err := js.Stream(ctx, audit.Stream(topo)); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("audit stream %s not found: give --config so it can be created, or start the bridge once", audit.Stream(topo))
		}
		return nil, fmt.Errorf("audit stream %s: %w", audit.Stream(topo), err)
	}
	return &auditTrail{js: js, topo: topo, operator: operator, now: now}, nil
}

func (a *auditTrail) Record(ctx context.Context, action string, e *dlq.Entry, r dlq.Result) error {
	act := audit.ActionReplayed
	if action == "purge" {
		act = audit.ActionPurged
	}
	rec := audit.Record{
		Time: a.now().UTC(), Action: act, Partner: e.Partner, Connector: e.Source,
		MessageID: e.ID, EventType: e.EventType, PayloadSHA256: bridge.PayloadDigest(e.Payload),
		Outcome: string(r.Outcome), Reason: r.Reason, Attempt: e.Attempts,
		TraceID: audit.TraceID(e.TraceParent), Operator: a.operator,
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(&rec); err != nil {
		return err
	}
	partner := e.Partner
	if partner == "" {
		partner = "_unknown"
	}
	msg := nats.NewMsg(audit.Subject(a.topo, partner))
	msg.Data = buf.Bytes()
	// Keyed by entry and outcome: a re-run of an interrupted replay, which
	// meets the same entry again, does not record its decision twice.
	msg.Header.Set(nats.MsgIdHdr, "audit-dlq-"+action+"-"+a.topo.DeadLetterStream()+"-"+strconv.FormatUint(e.Seq, 10)+"-"+string(r.Outcome))
	if _, err := a.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("store audit record: %w", err)
	}
	return nil
}
