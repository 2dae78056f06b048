package integration_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/dlq"
	"github.com/dmzbridge/dmzbridge/bridge/intake"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// nopSink is never reached: the test reads what the pipeline stores.
type nopSink struct{}

func (nopSink) Publish(context.Context, []*bridge.ERPMessage) []error { return nil }
func (nopSink) Ready() error                                          { return nil }
func (nopSink) Close() error                                          { return nil }

// TestReplayAppliesEveryRule: `dlq replay` (and its --dry-run) runs the
// same chain as serve. Events serve rejected stay rejected with the same
// reason; an event dead-lettered before any stage ran is masked exactly as
// serve masks it; and entries the forwarder gave up on (max_attempts) are
// checked again for identity, allowed types, size and schema, while an
// already masked one goes back byte for byte (not masked twice).
func TestReplayAppliesEveryRule(t *testing.T) {
	t.Setenv("RR_MASK_KEY", "replay-rules-test-key-0123456789")
	schemasDir, err := filepath.Abs(filepath.Join("..", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`environment: test
jetstream: {url: nats://127.0.0.1:1, stream_prefix: RR, replicas: 1, durability: fsync}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
schemas_dir: ` + schemasDir + `
partners:
  - name: bank-a
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "a.>"}}
    allowed_types: [payment.received]
    max_message_bytes: 1024
    identity: {field: /partner}
    masking:
      hash_key_env: RR_MASK_KEY
      policies:
        - fields:
            - {path: /payer/iban, action: last4}
            - {path: /payer/email, action: hash}
  - name: bank-b
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "b.>"}}
    allowed_types: [payment.received]
    max_message_bytes: 1024
    identity: {field: /partner}
`))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := app.NewChain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := startNATS(t, "")
	_, js := ns.js(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topo := store.NewTopology(cfg.JetStream.StreamPrefix)
	if err := topo.EnsureStreams(ctx, js, cfg.JetStream); err != nil {
		t.Fatal(err)
	}
	// Serve's intake: the pipeline with the chain app.Start gives it. Run
	// is not started, so what it stores stays in the ingest stream.
	p, err := intake.New(intake.Options{JS: js, Topology: topo, JetStream: cfg.JetStream, Forward: cfg.Forward,
		Partners: []string{"bank-a", "bank-b"}, Stages: chain.Intake, Sink: nopSink{}})
	if err != nil {
		t.Fatal(err)
	}

	payment := func(extra string) []byte {
		return []byte(`{"payment_id":"P-1","booked_at":"2026-11-02T10:00:00Z","amount":12.5,"currency":"EUR",` +
			`"payer":{"name":"Ada","iban":"DE89370400440532013000","email":"ada@example.com"}` + extra + `}`)
	}
	order := []byte(`{"order_id":"O-1","created_at":"2026-11-02T10:00:00Z","customer":{"name":"Ada"},"lines":[],"currency":"EUR","total":1}`)
	// Valid but for its size: the schema has no bound on invoice_refs.
	refs := make([]string, 12)
	for i := range refs {
		refs[i] = `"` + strings.Repeat(string(rune('a'+i)), 39) + `"`
	}
	oversize := payment(`,"remittance_info":"` + strings.Repeat("x", 400) + `","invoice_refs":[` + strings.Join(refs, ",") + `]`)
	if len(oversize) <= 1024 {
		t.Fatalf("oversize payload is only %d bytes", len(oversize))
	}
	env := func(id, partner, typ string, payload []byte) *bridge.Envelope {
		return &bridge.Envelope{ID: id, Partner: partner, Source: "nats", EventType: typ, Payload: payload,
			Headers: map[string]string{config.DefaultEventTypeHeader: typ}}
	}
	submit := func(e *bridge.Envelope) {
		t.Helper()
		res := make(chan error, 1)
		if err := p.Submit(ctx, e, func(err error) { res <- err }); err != nil {
			t.Fatalf("submit %s: %v", e.ID, err)
		}
		if err := <-res; err != nil {
			t.Fatalf("store %s: %v", e.ID, err)
		}
	}

	// What serve does with each event as the partner sent it.
	submit(env("good", "bank-a", "payment.received", payment("")))
	submit(env("in-identity", "bank-a", "payment.received", payment(`,"partner":"bank-z"`)))
	submit(env("in-type", "bank-a", "order.created", order))
	submit(env("in-size", "bank-a", "payment.received", oversize))
	submit(env("in-schema", "bank-a", "payment.received", payment(`,"end_to_end_id":"`+strings.Repeat("e", 40)+`"`)))
	// Dead-lettered before any stage ran (its broker's redelivery limit):
	// the payload is the partner's, unmasked.
	redelivered := env("good-again", "bank-a", "payment.received", payment(""))
	redelivered.Rejection = bridge.Reject(bridge.ReasonRedelivered, "delivered 6 times")
	submit(redelivered)

	ingest, err := js.Stream(ctx, topo.IngestStream())
	if err != nil {
		t.Fatal(err)
	}
	served, err := ingest.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("serve stored nothing for the valid event: %v", err)
	}
	if bytes.Contains(served.Data, []byte("DE89370400440532013000")) || bytes.Contains(served.Data, []byte("ada@example.com")) {
		t.Fatalf("serve stored an unmasked payload: %s", served.Data)
	}
	serveReason := map[string]string{}
	dlqStore := dlq.NewStore(js, topo)
	entries, err := dlqStore.List(ctx, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		serveReason[e.ID] = e.Reason
	}
	for id, want := range map[string]string{"in-identity": bridge.ReasonPartnerMismatch, "in-type": bridge.ReasonTypeNotAllowed,
		"in-size": bridge.ReasonTooLarge, "in-schema": bridge.ReasonSchemaInvalid, "good-again": bridge.ReasonRedelivered} {
		if serveReason[id] != want {
			t.Fatalf("serve dead-lettered %s as %q, want %q", id, serveReason[id], want)
		}
	}

	// Entries the forwarder gave up on carry the stored form of an event.
	// Each breaks one rule of today's config, except the last two.
	forwardFailed := []*bridge.Envelope{
		env("fw-identity", "bank-a", "payment.received", withPartner(served.Data, "bank-z")),
		env("fw-type", "bank-a", "order.created", order),
		env("fw-size", "bank-a", "payment.received", oversize),
		env("fw-schema", "bank-b", "payment.received", payment(`,"end_to_end_id":"`+strings.Repeat("e", 40)+`"`)),
		env("fw-masked", "bank-a", "payment.received", served.Data),
		env("fw-plain", "bank-b", "payment.received", payment("")),
	}
	now := time.Now()
	for _, e := range forwardFailed {
		e.Attempt = 5
		msg := store.DeadLetterEntry(topo.DeadLetterSubject(e.Partner), e, store.Failure{
			Rejection: bridge.Reject(bridge.ReasonMaxAttempts, "ERP unreachable"), Last: now, In: bridge.FailedAtForward})
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}

	type want struct {
		outcome dlq.Outcome // of the real replay
		reason  string
	}
	wants := map[string]want{
		"in-identity": {dlq.StillRejected, bridge.ReasonPartnerMismatch},
		"in-type":     {dlq.StillRejected, bridge.ReasonTypeNotAllowed},
		"in-size":     {dlq.StillRejected, bridge.ReasonTooLarge},
		"in-schema":   {dlq.StillRejected, bridge.ReasonSchemaInvalid},
		"good-again":  {dlq.Replayed, ""},
		"fw-identity": {dlq.StillRejected, bridge.ReasonPartnerMismatch},
		"fw-type":     {dlq.StillRejected, bridge.ReasonTypeNotAllowed},
		"fw-size":     {dlq.StillRejected, bridge.ReasonTooLarge},
		"fw-schema":   {dlq.StillRejected, bridge.ReasonSchemaInvalid},
		"fw-masked":   {dlq.Replayed, ""},
		"fw-plain":    {dlq.Replayed, ""},
	}
	entries, err = dlqStore.List(ctx, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(wants) {
		t.Fatalf("%d dead-letter entries, want %d", len(entries), len(wants))
	}
	partners := map[string]bool{"bank-a": true, "bank-b": true}

	dry := &dlq.Replayer{Store: dlqStore, Stages: chain.Intake, Stored: chain.Stored, DryRun: true, Partners: partners}
	for _, e := range entries {
		res, err := dry.Replay(ctx, e)
		if err != nil {
			t.Fatalf("dry run of %s: %v", e.ID, err)
		}
		w := wants[e.ID]
		wantOutcome := dlq.WouldReplay
		if w.outcome == dlq.StillRejected {
			wantOutcome = dlq.WouldReject
		}
		if res.Outcome != wantOutcome || res.Reason != w.reason {
			t.Errorf("dry run of %s: %s %q (%s), want %s %q", e.ID, res.Outcome, res.Reason, res.Detail, wantOutcome, w.reason)
		}
	}
	info, err := ingest.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("the dry run changed the ingest stream: %d messages", info.State.Msgs)
	}

	r := &dlq.Replayer{Store: dlqStore, Stages: chain.Intake, Stored: chain.Stored, Partners: partners}
	for _, e := range entries {
		res, err := r.Replay(ctx, e)
		if err != nil {
			t.Fatalf("replay of %s: %v", e.ID, err)
		}
		w := wants[e.ID]
		if res.Outcome != w.outcome || res.Reason != w.reason {
			t.Errorf("replay of %s: %s %q (%s), want %s %q", e.ID, res.Outcome, res.Reason, res.Detail, w.outcome, w.reason)
		}
		if e.FailedIn == bridge.FailedAtIntake && w.reason != "" && res.Reason != serveReason[e.ID] {
			t.Errorf("replay of %s rejects it as %q, serve as %q", e.ID, res.Reason, serveReason[e.ID])
		}
	}
	if t.Failed() {
		return
	}

	// What the replay stored: the redelivered event masked exactly as
	// serve masked its twin, the masked one unchanged, the plain one as is.
	replayed := map[string][]byte{}
	info, err = ingest.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := ingest.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		replayed[m.Header.Get(bridge.HeaderOriginalID)] = m.Data
	}
	for id, wantData := range map[string][]byte{"good-again": served.Data, "fw-masked": served.Data, "fw-plain": payment("")} {
		if !bytes.Equal(replayed[id], wantData) {
			t.Errorf("replay stored %s as\n%s\nwant\n%s", id, replayed[id], wantData)
		}
	}
	left, err := dlqStore.List(ctx, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var leftIDs []string
	for _, e := range left {
		leftIDs = append(leftIDs, e.ID)
	}
	if len(left) != 8 {
		t.Errorf("dead-letter stream holds %v, want the 8 still rejected", leftIDs)
	}
}

// withPartner adds a partner member to a JSON object.
func withPartner(obj []byte, partner string) []byte {
	obj = bytes.TrimSpace(obj)
	out := append([]byte{}, obj[:len(obj)-1]...)
	return append(out, `,"partner":"`+partner+`"}`...)
}
