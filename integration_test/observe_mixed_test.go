package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/telemetry"
)

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// oneWayERP is an ERP NATS server where the bridge's user may only publish
// to erp.events.> and receive its PubAcks on _INBOX.> — the permissions
// deploy/nats/erp-publisher.conf documents — while the ERP's own consumer
// has a user of its own.
type oneWayERP struct {
	srv      *natsServer
	yaml     string
	js       jetstream.JetStream
	mu       sync.Mutex
	byID     map[string]nats.Header
	bodies   [][]byte
	password string
}

func startOneWayERP(t *testing.T, bridgePassword string, subjects ...string) *oneWayERP {
	t.Helper()
	opts := &server.Options{JetStream: true,
		Users: []*server.User{
			{Username: "dmzbridge", Password: bridgePassword, Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"erp.events.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
			{Username: "erp", Password: "erp-consumer"},
		}}
	e := &oneWayERP{srv: &natsServer{bridgetest.StartNATS(t, opts)}, byID: map[string]nats.Header{}, password: bridgePassword}
	nc, err := nats.Connect(e.srv.url(), nats.UserInfo("erp", "erp-consumer"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if e.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	createStream(t, e.js, "ERP", subjects...)
	if _, err := nc.Subscribe("erp.events.>", func(m *nats.Msg) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.byID[m.Header.Get(nats.MsgIdHdr)] = m.Header
		e.bodies = append(e.bodies, m.Data)
	}); err != nil {
		t.Fatal(err)
	}
	e.yaml = fmt.Sprintf("type: nats\noptions:\n  url: %s\n  user: dmzbridge\n  password: %s\n  subject: erp.events.{partner}\n  jetstream: true\n", e.srv.url(), bridgePassword)
	return e
}

func (e *oneWayERP) count(prefix string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for id := range e.byID {
		if strings.HasPrefix(id, prefix) {
			n++
		}
	}
	return n
}

func (e *oneWayERP) header(id string) nats.Header {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byID[id]
}

// maskIBAN stands in for the masking stage: it replaces the iban field.
var maskIBAN = bridge.StageFunc{StageName: "mask", Fn: func(_ context.Context, env *bridge.Envelope) error {
	var doc map[string]any
	if err := json.Unmarshal(env.Payload, &doc); err != nil {
		return bridge.Reject(bridge.ReasonMalformed, "not JSON")
	}
	if _, ok := doc["iban"]; ok {
		doc["iban"] = "[redacted]"
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	env.Payload = out
	return nil
}}

// keepSpans keeps recorded spans past the bridge's shutdown (the
// in-memory exporter forgets them when shut down).
type keepSpans struct{ *tracetest.InMemoryExporter }

func (keepSpans) Shutdown(context.Context) error { return nil }

// metricSum adds up every series of name whose labels include all of want.
func metricSum(body, name string, want map[string]string) float64 {
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for k, v := range want {
			if !strings.Contains(line, k+`="`+v+`"`) {
				match = false
			}
		}
		if !match {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestObservabilityMixedRun drives a mixed run — valid events, events that
// claim another partner, a rate-limited partner and an ERP that refuses one
// partner's events for a while — through a bridge whose ERP user may only
// publish. It then checks the Prometheus counters against what was sent,
// the audit trail, the trace id at the ERP, and that neither a planted
// secret nor a masked value appears in any log line, metric, audit record
// or span attribute.
func TestObservabilityMixedRun(t *testing.T) {
	const (
		secret = "planted-S3cret-erp-password-7f3a"
		iban   = "DE89370400440532013000"
		// A partner's trace: the ERP must see this trace id.
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		tp      = "00-" + traceID + "-00f067aa0ba902b7-01"
		bankN   = 30
		dealerN = 10
	)
	// The ERP stream captures only bank-a at first: dealer's events are
	// refused (no stream answers) and retried until it exists.
	erp := startOneWayERP(t, secret, "erp.events.bank-a")
	bankBlock, bankSend := partnerNATS(t, "bank-a", "MIX_BANK", "mix.bank.>")
	bankBlock += "\n    identity: {field: /partner, values: [bank-a]}"
	dealerBlock, dealerSend := partnerNATS(t, "dealer", "MIX_DEALER", "mix.dealer.>")
	dealerBlock += "\n    rate_limit:\n      per_second: 20\n      burst: 2"

	logs := &lockedBuffer{}
	spans := tracetest.NewInMemoryExporter()
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.yaml, bankBlock, dealerBlock)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := app.NewChain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rb := startBridge(t, yaml, app.Options{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		// Options.Stages replaces the whole chain: the config's chain (its
		// validation stage holds the identity rule) plus the test's stage.
		Stages:       append(chain.Intake, maskIBAN),
		SpanExporter: keepSpans{spans},
	})
	base := rb.b.AdminURL()
	if base == "" {
		t.Fatal("admin listener not started")
	}
	if code, body := httpGet(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz: %d %q", code, body)
	}

	mismatches := 0
	for i := range bankN {
		hdr := map[string]string{}
		if i == 0 {
			hdr["traceparent"] = tp
		}
		claim := ""
		if i%6 == 5 {
			claim = `"partner":"dealer",`
			mismatches++
		}
		bankSend(fmt.Sprintf("bank-%02d", i), hdr, fmt.Sprintf(`{%s"seq":%d,"iban":"%s","amount":"12.50"}`, claim, i, iban))
	}
	start := time.Now()
	for i := range dealerN {
		dealerSend(fmt.Sprintf("dealer-%02d", i), nil, fmt.Sprintf(`{"seq":%d,"iban":"%s"}`, i, iban))
	}
	t.Logf("sent after %v", time.Since(start))
	eventually(t, 30*time.Second, "bank-a events at the ERP", func() (bool, string) {
		n := erp.count("bank-")
		return n == bankN-mismatches, fmt.Sprintf("%d of %d", n, bankN-mismatches)
	})
	eventually(t, 30*time.Second, "dealer forwards retried", func() (bool, string) {
		_, body := httpGet(t, base+"/metrics")
		n := metricSum(body, "dmzbridge_messages_retried_total", map[string]string{"partner": "dealer"})
		return n >= 1, fmt.Sprintf("retried %v", n)
	})
	if _, err := erp.js.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{Name: "ERP", Subjects: []string{"erp.events.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "dealer events at the ERP", func() (bool, string) {
		n := erp.count("dealer-")
		return n == dealerN, fmt.Sprintf("%d of %d", n, dealerN)
	})
	t.Logf("dealer at ERP after %v", time.Since(start))
	// 20/s with a burst of 2: ten events cannot all pass in under 0.4 s.
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("dealer's 10 events passed in %v despite a 20/s limit", el)
	}

	// Counters against what was sent.
	var body string
	eventually(t, 60*time.Second, "gauges settled", func() (bool, string) {
		_, body = httpGet(t, base+"/metrics")
		backlog := metricSum(body, "dmzbridge_ingest_backlog", nil)
		dlq := metricSum(body, "dmzbridge_dead_letter_depth", map[string]string{"partner": "bank-a"})
		return backlog == 0 && dlq == float64(mismatches), fmt.Sprintf("backlog %v, dead letters %v", backlog, dlq)
	})
	t.Logf("gauges settled after %v", time.Since(start))
	checks := []struct {
		name    string
		labels  map[string]string
		want    float64
		atLeast bool
	}{
		{"dmzbridge_messages_received_total", map[string]string{"partner": "bank-a", "connector": "nats"}, bankN, false},
		{"dmzbridge_messages_received_total", map[string]string{"partner": "dealer"}, dealerN, false},
		{"dmzbridge_messages_stored_total", map[string]string{"partner": "bank-a"}, bankN - float64(mismatches), false},
		{"dmzbridge_messages_forwarded_total", map[string]string{"partner": "bank-a"}, bankN - float64(mismatches), false},
		{"dmzbridge_messages_forwarded_total", map[string]string{"partner": "dealer"}, dealerN, false},
		{"dmzbridge_messages_dead_lettered_total", map[string]string{"partner": "bank-a", "reason": bridge.ReasonPartnerMismatch}, float64(mismatches), false},
		{"dmzbridge_messages_dead_lettered_total", map[string]string{"partner": "dealer"}, 0, false},
		{"dmzbridge_messages_retried_total", map[string]string{"partner": "bank-a"}, 0, false},
		{"dmzbridge_messages_retried_total", map[string]string{"partner": "dealer"}, 1, true},
		{"dmzbridge_intake_throttled_total", map[string]string{"partner": "dealer"}, 1, true},
		{"dmzbridge_intake_throttled_total", map[string]string{"partner": "bank-a"}, 0, false},
		{"dmzbridge_end_to_end_latency_seconds_count", nil, bankN - float64(mismatches) + dealerN, false},
		{"dmzbridge_connector_up", map[string]string{"role": "erp"}, 1, false},
		{"dmzbridge_connector_up", map[string]string{"role": "inbound"}, 2, false},
		// Embedded JetStream defaults to fsync.
		{"dmzbridge_durability_level", map[string]string{"mode": "fsync"}, 1, false},
	}
	for _, c := range checks {
		got := metricSum(body, c.name, c.labels)
		if (c.atLeast && got < c.want) || (!c.atLeast && got != c.want) {
			t.Errorf("%s%v = %v, want %v (at least: %v)", c.name, c.labels, got, c.want, c.atLeast)
		}
	}
	code, ready := httpGet(t, base+"/readyz")
	if code != 200 || !strings.Contains(ready, `"erp": "ok"`) || !strings.Contains(ready, `"jetstream": "ok"`) {
		t.Fatalf("/readyz: %d %s", code, ready)
	}
	// /status as `dmzbridge status` reads it: the partners' real link
	// states, their dead letters and the durability mode.
	code, status := httpGet(t, base+"/status")
	var st telemetry.Status
	if err := json.Unmarshal([]byte(status), &st); err != nil || code != 200 {
		t.Fatalf("/status: %d %v %s", code, err, status)
	}
	if st.Durability != "fsync" || len(st.Partners) != 2 || len(st.ERP) != 1 || st.ERP[0].State != bridge.StateUp {
		t.Errorf("/status: %s", status)
	}
	for _, p := range st.Partners {
		wantDL := int64(0)
		if p.Partner == "bank-a" {
			wantDL = int64(mismatches)
		}
		if p.State != bridge.StateUp || p.Connector != "nats" || p.Backlog != 0 || p.DeadLetters != wantDL {
			t.Errorf("/status partner %+v, want up, backlog 0, %d dead letters", p, wantDL)
		}
	}

	// The audit trail: one record per decision.
	js, topo := rb.b.JetStream(), rb.b.Topology()
	var recs []audit.Record
	eventually(t, 30*time.Second, "audit records", func() (bool, string) {
		var err error
		recs, err = audit.Query(context.Background(), js, topo, audit.Filter{})
		want := bankN + dealerN + (bankN - mismatches + dealerN) + mismatches
		return err == nil && len(recs) == want, fmt.Sprintf("%d of %d records, err %v", len(recs), want, err)
	})
	byAction := map[string]int{}
	for _, r := range recs {
		byAction[r.Partner+"/"+r.Action]++
		if r.Action == audit.ActionDeadLettered && r.Reason != bridge.ReasonPartnerMismatch {
			t.Errorf("dead-letter record with reason %q", r.Reason)
		}
	}
	for k, want := range map[string]int{"bank-a/received": bankN, "bank-a/forwarded": bankN - mismatches,
		"bank-a/dead_lettered": mismatches, "dealer/received": dealerN, "dealer/forwarded": dealerN} {
		if byAction[k] != want {
			t.Errorf("audit %s: %d, want %d", k, byAction[k], want)
		}
	}

	// The partner's trace id reaches the ERP; a partner without one gets a fresh trace.
	h := erp.header("bank-00")
	if got := audit.TraceID(h.Get("traceparent")); got != traceID {
		t.Fatalf("ERP traceparent %q, want trace id %s", h.Get("traceparent"), traceID)
	}
	if got := audit.TraceID(erp.header("dealer-03").Get("traceparent")); got == "" || got == traceID {
		t.Fatalf("dealer event reached the ERP with trace id %q, want a fresh one", got)
	}

	// The ERP going away shows within a poll: connector_up drops to 0,
	// /status says down and /readyz turns 503. (The NATS sink has no state
	// of its own; it is derived from Ready() on the wrapped sink.)
	erp.srv.stop()
	eventually(t, 30*time.Second, "ERP connector down", func() (bool, string) {
		_, m := httpGet(t, base+"/metrics")
		_, sb := httpGet(t, base+"/status")
		var st telemetry.Status
		_ = json.Unmarshal([]byte(sb), &st)
		up := metricSum(m, "dmzbridge_connector_up", map[string]string{"role": "erp"})
		return up == 0 && len(st.ERP) == 1 && st.ERP[0].State == bridge.StateDown, fmt.Sprintf("connector_up %v, status %+v", up, st.ERP)
	})
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the ERP down: %d %s", code, body)
	}

	// Stop the bridge so every span and audit batch is flushed.
	rb.shutdown()
	names := map[string]bool{}
	var spanText strings.Builder
	for _, s := range spans.GetSpans() {
		if s.SpanContext.TraceID().String() == traceID {
			names[s.Name] = true
		}
		fmt.Fprintf(&spanText, "%s %s %s\n", s.Name, s.Status.Description, s.Attributes)
		for _, ev := range s.Events {
			fmt.Fprintf(&spanText, "%s %v\n", ev.Name, ev.Attributes)
		}
	}
	for _, n := range []string{"dmzbridge.intake", "dmzbridge.stage.validate", "dmzbridge.stage.mask", "dmzbridge.persist", "dmzbridge.forward"} {
		if !names[n] {
			t.Errorf("no span %s in the partner's trace (have %v)", n, names)
		}
	}

	// Nothing sensitive anywhere operators look.
	auditJSON, _ := json.Marshal(recs)
	erp.mu.Lock()
	for _, b := range erp.bodies {
		if bytes.Contains(b, []byte(iban)) {
			t.Errorf("unmasked IBAN reached the ERP: %s", b)
		}
	}
	erp.mu.Unlock()
	for what, text := range map[string]string{"logs": logs.String(), "metrics": body, "audit": string(auditJSON),
		"spans": spanText.String(), "readyz": ready, "status": status} {
		if text == "" && what != "readyz" {
			t.Errorf("%s: nothing captured, the check would prove nothing", what)
		}
		for _, leak := range []string{secret, iban, regexp.QuoteMeta(iban[len(iban)-8:])} {
			if strings.Contains(text, leak) {
				t.Errorf("%s contain %q", what, leak)
			}
		}
	}
}
