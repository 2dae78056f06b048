package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

func startJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := bridgetest.StartJetStream(t)
	return js
}

func TestWriterAndQuery(t *testing.T) {
	js := startJS(t)
	ctx := context.Background()
	topo := store.NewTopology("AUDT")
	if err := EnsureStream(ctx, js, topo, config.JetStream{Replicas: 1, DuplicateWindow: time.Minute}, config.Retention{}); err != nil {
		t.Fatal(err)
	}
	si, err := js.Stream(ctx, Stream(topo))
	if err != nil {
		t.Fatal(err)
	}
	if got := si.CachedInfo().Config.MaxAge; got != DefaultMaxAge {
		t.Fatalf("default retention %v, want %v", got, DefaultMaxAge)
	}
	// A small batch size forces several stored messages per partner.
	w := NewWriter(js, topo, WriterOptions{MaxBatch: 7, FlushInterval: 20 * time.Millisecond})
	// Record times lie in the past, as they do when a batch is stored.
	start := time.Now().UTC().Add(-time.Hour)
	for i := range 100 {
		p := "bank-a"
		if i%4 == 0 {
			p = "dealer"
		}
		env := &bridge.Envelope{ID: fmt.Sprintf("m-%d", i), Partner: p, Source: "nats", EventType: "order.created",
			Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), Headers: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
		if err := w.Write(FromEnvelope(ActionReceived, OutcomeAccepted, env, start.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(Record{Action: ActionReplayed, Partner: "dealer", MessageID: "m-4", Outcome: OutcomeOK, Operator: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Record{Partner: "x"}); err != ErrClosed {
		t.Fatalf("write after close: %v, want ErrClosed", err)
	}
	if w.Written() != 101 {
		t.Fatalf("written %d, want 101", w.Written())
	}

	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 101},
		{"partner", Filter{Partner: "dealer"}, 26},
		{"message id", Filter{MessageID: "m-4"}, 2},
		{"action", Filter{Action: ActionReplayed}, 1},
		{"since", Filter{Since: start.Add(90 * time.Millisecond), Partner: "bank-a"}, 8},
		{"until", Filter{Until: start.Add(9 * time.Millisecond)}, 10},
		{"limit", Filter{Limit: 5}, 5},
		{"nobody", Filter{Partner: "nobody"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Query(ctx, js, topo, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d records, want %d", len(got), tc.want)
			}
			for _, r := range got {
				if !tc.f.Match(r) {
					t.Fatalf("record %+v does not match %+v", r, tc.f)
				}
			}
		})
	}
	recs, _ := Query(ctx, js, topo, Filter{MessageID: "m-4", Action: ActionReceived})
	r := recs[0]
	if r.PayloadSHA256 != bridge.PayloadDigest([]byte(`{"n":4}`)) || r.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || r.Connector != "nats" || r.EventType != "order.created" {
		t.Fatalf("record fields: %+v", r)
	}
}

func TestTraceID(t *testing.T) {
	for tp, want := range map[string]string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": "4bf92f3577b34da6a3ce929d0e0e4736",
		"": "", "garbage": "", "00-short-00f067aa0ba902b7-01": "",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7":      "",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x": "",
		"-4bf92f3577b34da6a3ce929d0e0e4736--":                       "4bf92f3577b34da6a3ce929d0e0e4736",
	} {
		if got := TraceID(tp); got != want {
			t.Errorf("TraceID(%q) = %q, want %q", tp, got, want)
		}
	}
}
