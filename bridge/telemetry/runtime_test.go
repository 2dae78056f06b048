package telemetry

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// TestEnvironmentAndRuntime: with an environment, every series carries it
// (the bridge's, the Go runtime's and the process's alike), the runtime
// and process collectors are there, and target_info names the service
// instead of unknown_service.
func TestEnvironmentAndRuntime(t *testing.T) {
	m, err := NewMetrics(WithEnvironment("prod"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })
	m.SetDurability("fsync")
	m.Received(&bridge.Envelope{Partner: "bank-a", Source: "nats", EventType: "payment.received"})
	m.SetGauges(Gauges{Backlog: map[string]int64{"bank-a": 1}})
	got := scrape(t, m)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_open_fds", "process_resident_memory_bytes",
		"dmzbridge_messages_received_total", "dmzbridge_ingest_backlog", "dmzbridge_durability_level", "target_info"} {
		if len(got[name]) == 0 {
			t.Errorf("%s: no series", name)
		}
	}
	for name, ss := range got {
		for _, s := range ss {
			if s.labels["environment"] != "prod" {
				t.Errorf("%s%v: environment label %q, want prod", name, s.labels, s.labels["environment"])
			}
		}
	}
	if ti := got["target_info"]; len(ti) > 0 {
		if sn := ti[0].labels["service_name"]; sn != "dmzbridge" {
			t.Errorf("target_info service_name %q, want dmzbridge", sn)
		}
	}
	for name := range got {
		if strings.HasPrefix(name, "unknown_service") {
			t.Errorf("series %s", name)
		}
	}
}

// TestStoreAndAgeGauges: the polled store usage and oldest-event age reach
// /metrics; an unlimited stream or account has no limit series, so a
// "nearly full" ratio is never computed against a made-up limit.
func TestStoreAndAgeGauges(t *testing.T) {
	m := newMetrics(t)
	m.SetGauges(Gauges{
		OldestAge: map[string]time.Duration{"bank-a": 90 * time.Second},
		Streams: []StreamUsage{{Stream: "T_INGEST", Bytes: 800, MaxBytes: 1000},
			{Stream: "T_DLQ", Bytes: 5, MaxBytes: -1}},
		Account: &AccountUsage{Bytes: 805, Limit: 4096},
	})
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"dmzbridge_ingest_oldest_age_seconds", map[string]string{"partner": "bank-a"}, 90},
		{"dmzbridge_jetstream_stream_used_bytes", map[string]string{"stream": "T_INGEST"}, 800},
		{"dmzbridge_jetstream_stream_limit_bytes", map[string]string{"stream": "T_INGEST"}, 1000},
		{"dmzbridge_jetstream_stream_used_bytes", map[string]string{"stream": "T_DLQ"}, 5},
		{"dmzbridge_jetstream_account_used_bytes", nil, 805},
		{"dmzbridge_jetstream_account_limit_bytes", nil, 4096},
	}
	// The label sets, as TestMetricLabels pins the documented metrics'.
	labels := map[string][]string{
		"dmzbridge_ingest_oldest_age_seconds":     {"partner"},
		"dmzbridge_jetstream_stream_used_bytes":   {"stream"},
		"dmzbridge_jetstream_stream_limit_bytes":  {"stream"},
		"dmzbridge_jetstream_account_used_bytes":  nil,
		"dmzbridge_jetstream_account_limit_bytes": nil,
	}
	got := scrape(t, m)
	for name, want := range labels {
		if ss := got[name]; len(ss) == 0 || !slices.Equal(labelNames(ss[0]), want) {
			t.Errorf("%s: series %v, want labels %v", name, ss, want)
		}
	}
	for _, c := range checks {
		v, ok := value(t, m, c.name, c.labels)
		if !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if _, ok := value(t, m, "dmzbridge_jetstream_stream_limit_bytes", map[string]string{"stream": "T_DLQ"}); ok {
		t.Error("a limit series for an unlimited stream")
	}
	m.SetGauges(Gauges{Account: &AccountUsage{Bytes: 1, Limit: -1}})
	if _, ok := value(t, m, "dmzbridge_jetstream_account_limit_bytes", nil); ok {
		t.Error("a limit series for an account without a limit")
	}
}
