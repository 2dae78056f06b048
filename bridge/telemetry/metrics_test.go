package telemetry

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

func labelNames(s series) []string {
	var out []string
	for k := range s.labels {
		if k != "le" && k != "otel_scope_name" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// TestMetricLabels pins every metric's label set: the README's metrics
// table documents these, and dashboards and alerts select on them.
func TestMetricLabels(t *testing.T) {
	m := newMetrics(t)
	m.SetDurability(config.DurabilityFsync)
	env := &bridge.Envelope{Partner: "bank-a", Source: "nats", EventType: "payment.received"}
	m.Received(env)
	m.Stored(env)
	m.Forwarded(env, 20*time.Millisecond)
	m.ForwardFailed(env, fmt.Errorf("erp down"))
	m.DeadLettered(env, bridge.Reject(bridge.ReasonSchemaInvalid, "detail"))
	m.Throttled("bank-a", "nats")
	m.SetGauges(Gauges{
		Backlog:      map[string]int64{"bank-a": 3},
		DeadLetters:  map[string]int64{"bank-a": 1},
		Connectors:   []ConnectorState{{Partner: "bank-a", Role: "inbound", Connector: "nats", State: bridge.StateUp}},
		Certificates: []CertExpiry{{Owner: "erp", File: "/pki/erp.pem", NotAfter: time.Now()}},
		OldestAge:    map[string]time.Duration{"bank-a": time.Minute},
		Streams:      []StreamUsage{{Stream: "DMZ_INGEST", Bytes: 800, MaxBytes: 1000}},
		Account:      &AccountUsage{Bytes: 805, Limit: 4096},
	})
	evt := []string{"connector", "event_type", "partner"}
	want := map[string][]string{
		"dmzbridge_messages_received_total":              evt,
		"dmzbridge_messages_stored_total":                evt,
		"dmzbridge_messages_forwarded_total":             evt,
		"dmzbridge_messages_retried_total":               evt,
		"dmzbridge_messages_dead_lettered_total":         {"connector", "event_type", "partner", "reason"},
		"dmzbridge_intake_throttled_total":               {"connector", "partner"},
		"dmzbridge_end_to_end_latency_seconds_count":     evt,
		"dmzbridge_ingest_backlog":                       {"partner"},
		"dmzbridge_dead_letter_depth":                    {"partner"},
		"dmzbridge_connector_up":                         {"connector", "partner", "role"},
		"dmzbridge_certificate_expiry_timestamp_seconds": {"file", "owner"},
		"dmzbridge_durability_level":                     {"mode"},
		"dmzbridge_ingest_oldest_age_seconds":            {"partner"},
		"dmzbridge_jetstream_stream_used_bytes":          {"stream"},
		"dmzbridge_jetstream_stream_limit_bytes":         {"stream"},
		"dmzbridge_jetstream_account_used_bytes":         nil,
		"dmzbridge_jetstream_account_limit_bytes":        nil,
	}
	checkReadmeTable(t, want)
	got := scrape(t, m)
	for name, labels := range want {
		ss := got[name]
		if len(ss) == 0 {
			t.Errorf("%s: no series", name)
			continue
		}
		if l := labelNames(ss[0]); !slices.Equal(l, labels) {
			t.Errorf("%s: labels %v, want %v", name, l, labels)
		}
	}
}

// TestDurabilityGauge: the level follows config.DurabilityLevel, with the
// mode as a label; before SetDurability there is no series at all.
func TestDurabilityGauge(t *testing.T) {
	m := newMetrics(t)
	if _, ok := value(t, m, "dmzbridge_durability_level", nil); ok {
		t.Fatal("a durability series before the mode is known")
	}
	for mode, level := range map[string]float64{config.DurabilityRelaxed: 0, config.DurabilityFsync: 1, config.DurabilityReplicated: 2} {
		m.SetDurability(mode)
		v, ok := value(t, m, "dmzbridge_durability_level", map[string]string{"mode": mode})
		if !ok || v != level {
			t.Errorf("%s: level %v (present %v), want %v", mode, v, ok, level)
		}
		if n := len(scrape(t, m)["dmzbridge_durability_level"]); n != 1 {
			t.Errorf("%s: %d durability series, want 1", mode, n)
		}
	}
}

// TestConnectorUpGauge: 1 only for "up"; "connecting" and "down" are 0.
func TestConnectorUpGauge(t *testing.T) {
	m := newMetrics(t)
	m.SetGauges(Gauges{Connectors: []ConnectorState{
		{Partner: "bank-a", Role: "inbound", Connector: "nats", State: bridge.StateUp},
		{Partner: "dealer", Role: "inbound", Connector: "amqp", State: bridge.StateConnecting},
		{Partner: "logistics", Role: "inbound", Connector: "kafka", State: bridge.StateDown},
		{Role: "erp", Connector: "nats", State: bridge.StateDown},
	}})
	for partner, want := range map[string]float64{"bank-a": 1, "dealer": 0, "logistics": 0, "": 0} {
		if v, ok := value(t, m, "dmzbridge_connector_up", map[string]string{"partner": partner}); !ok || v != want {
			t.Errorf("partner %q: connector_up %v (present %v), want %v", partner, v, ok, want)
		}
	}
}

// TestEventTypeCap: past maxEventTypes distinct types, new ones count as
// "other", so a partner cannot grow the label without bound; known types
// keep their own series.
func TestEventTypeCap(t *testing.T) {
	m := newMetrics(t)
	for i := range maxEventTypes + 10 {
		m.Received(&bridge.Envelope{Partner: "bank-a", Source: "nats", EventType: fmt.Sprintf("type.%03d", i)})
	}
	m.Received(&bridge.Envelope{Partner: "bank-a", Source: "nats", EventType: "type.000"})
	m.Received(&bridge.Envelope{Partner: "bank-a", Source: "nats"})
	got := map[string]float64{}
	for _, s := range scrape(t, m)["dmzbridge_messages_received_total"] {
		got[s.labels["event_type"]] = s.value
	}
	if len(got) != maxEventTypes+2 { // the capped types, "other", "unknown"
		t.Fatalf("%d event_type values, want %d", len(got), maxEventTypes+2)
	}
	if got["other"] != 10 || got["type.000"] != 2 || got["unknown"] != 1 {
		t.Fatalf("other %v, type.000 %v, unknown %v; want 10, 2, 1", got["other"], got["type.000"], got["unknown"])
	}
	if n := m.ReceivedCount("bank-a"); n != maxEventTypes+12 {
		t.Fatalf("ReceivedCount %d, want %d", n, maxEventTypes+12)
	}
}

// checkReadmeTable compares the README's metrics table with want, so the
// documented labels cannot drift from what is exported again.
func checkReadmeTable(t *testing.T, want map[string][]string) {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(dmzbridge_[a-z_]+)` \\| ([a-z]+) \\| ([^|]*) \\|")
	paren := regexp.MustCompile(`\([^)]*\)`)
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(raw), -1) {
		name := m[1]
		if m[2] == "histogram" {
			name += "_count"
		}
		var labels []string
		for _, l := range strings.Split(paren.ReplaceAllString(m[3], ""), ",") {
			if l = strings.TrimSpace(l); l != "" { // an empty cell: no labels
				labels = append(labels, l)
			}
		}
		sort.Strings(labels)
		documented[name] = true
		if w, ok := want[name]; !ok {
			t.Errorf("README documents %s, which is not exported", m[1])
		} else if !slices.Equal(labels, w) {
			t.Errorf("README labels of %s: %v, exported %v", m[1], labels, w)
		}
	}
	for name := range want {
		if !documented[name] {
			t.Errorf("%s is not in the README's metrics table", name)
		}
	}
}
