package store

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

func TestStreamConfigs(t *testing.T) {
	topo := NewTopology("BR")
	js := config.JetStream{Replicas: 3, DuplicateWindow: 2 * time.Minute,
		Ingest:     config.Retention{MaxAge: time.Hour, MaxBytes: 0},
		DeadLetter: config.Retention{MaxAge: 7 * 24 * time.Hour, MaxBytes: 1 << 20}}
	tests := []struct {
		name     string
		got      jetstream.StreamConfig
		stream   string
		subject  string
		maxAge   time.Duration
		maxBytes int64
	}{
		{"ingest", topo.IngestConfig(js), "BR_INGEST", "br.ingest.>", time.Hour, -1},
		{"dead letter", topo.DeadLetterConfig(js), "BR_DLQ", "br.dlq.>", 7 * 24 * time.Hour, 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.got
			if c.Name != tc.stream || len(c.Subjects) != 1 || c.Subjects[0] != tc.subject {
				t.Errorf("name %q subjects %v, want %q [%s]", c.Name, c.Subjects, tc.stream, tc.subject)
			}
			if c.Description == "" {
				t.Error("no description")
			}
			if c.Retention != jetstream.LimitsPolicy || c.Storage != jetstream.FileStorage || c.Discard != jetstream.DiscardNew {
				t.Errorf("retention %v storage %v discard %v, want limits, file, new", c.Retention, c.Storage, c.Discard)
			}
			if c.Replicas != 3 || c.Duplicates != 2*time.Minute || !c.AllowAtomicPublish {
				t.Errorf("replicas %d duplicates %v atomic %v", c.Replicas, c.Duplicates, c.AllowAtomicPublish)
			}
			if c.MaxAge != tc.maxAge || c.MaxBytes != tc.maxBytes {
				t.Errorf("max age %v bytes %d, want %v %d", c.MaxAge, c.MaxBytes, tc.maxAge, tc.maxBytes)
			}
		})
	}
}
