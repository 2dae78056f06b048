package integration_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/connectors/amqp/amqptest"
)

// TestBenchCommandSmall runs `dmzbridge bench` as operators do, on a few
// hundred events in both modes: every event reaches the ERP (the command
// fails otherwise), the figures are filled in (the four raw legs give the
// composed limit L, which no leg's own rate can be below), and the partner's and ERP's
// servers ran in the child process (their CPU time is reported apart).
// Speed is not asserted: the figures are for reading, not for a timed test.
func TestBenchCommandSmall(t *testing.T) {
	runBenchSmall(t, "nats")
}

// TestBenchCommandAMQPSmall is the same with the partners on the local
// RabbitMQ: the bridge consumes quorum queues and the partner leg of L is
// RabbitMQ's own consume rate.
func TestBenchCommandAMQPSmall(t *testing.T) {
	amqptest.Require(t)
	runBenchSmall(t, "amqp")
}

func runBenchSmall(t *testing.T, kind string) {
	bin, err := bridgeBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "bench", "--partner-kind", kind, "--amqp-url", amqptest.URL, "--partners", "2", "--events", "300",
		"--half-rate-for", "1s", "--raw-async-events", "500", "--dir", t.TempDir(), "--json")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	var res struct {
		Results []struct {
			Durability  string  `json:"durability"`
			PartnerKind string  `json:"partner_kind"`
			Events      int     `json:"events"`
			EventsPerS  float64 `json:"events_per_s"`
			P50Ms       float64 `json:"p50_ms"`
			P99Ms       float64 `json:"p99_ms"`
			CPUSeconds  float64 `json:"cpu_s"`
			BrokersCPU  float64 `json:"brokers_cpu_s"`
			PeakRSSMB   float64 `json:"peak_rss_mb"`
			Ratio       float64 `json:"ratio"`
			Limit       float64 `json:"limit_per_s"`
			CPUPerEvent float64 `json:"cpu_us_per_event"`
			PartnerCons float64 `json:"raw_partner_consume_per_s"`
			IngestCons  float64 `json:"raw_ingest_consume_per_s"`
			HalfP99Ms   float64 `json:"half_p99_ms"`
			HalfRatePer float64 `json:"half_rate_per_s"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, out)
	}
	if len(res.Results) != 2 || res.Results[0].Durability != "fsync" || res.Results[1].Durability != "relaxed" {
		t.Fatalf("want fsync and relaxed results, got %s", out)
	}
	for _, r := range res.Results {
		if r.PartnerKind != kind {
			t.Errorf("%s: partner kind %q, want %q", r.Durability, r.PartnerKind, kind)
		}
		if r.Events != 600 || r.EventsPerS <= 0 || r.Ratio <= 0 || r.HalfRatePer <= 0 {
			t.Errorf("%s: events %d, %.0f/s, ratio %.2f, half rate %.0f/s", r.Durability, r.Events, r.EventsPerS, r.Ratio, r.HalfRatePer)
		}
		if r.PartnerCons <= 0 || r.IngestCons <= 0 || r.Limit <= 0 || r.Limit > r.PartnerCons || r.Limit > r.IngestCons {
			t.Errorf("%s: L %.0f/s from partner consume %.0f/s and ingest consume %.0f/s", r.Durability, r.Limit, r.PartnerCons, r.IngestCons)
		}
		if r.CPUPerEvent <= 0 || r.HalfP99Ms <= 0 {
			t.Errorf("%s: %.1f CPU µs/event, half-rate p99 %.2f ms", r.Durability, r.CPUPerEvent, r.HalfP99Ms)
		}
		if r.P50Ms <= 0 || r.P99Ms < r.P50Ms {
			t.Errorf("%s: p50 %.2f ms, p99 %.2f ms", r.Durability, r.P50Ms, r.P99Ms)
		}
		if r.CPUSeconds <= 0 || r.BrokersCPU <= 0 || r.PeakRSSMB <= 0 {
			t.Errorf("%s: CPU %.2f s, brokers' CPU %.2f s, peak RSS %.0f MB", r.Durability, r.CPUSeconds, r.BrokersCPU, r.PeakRSSMB)
		}
	}
}
