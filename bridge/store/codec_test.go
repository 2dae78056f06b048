package store

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	received := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	cases := []struct {
		name string
		env  bridge.Envelope
	}{
		{"minimal", bridge.Envelope{ID: "a1", Partner: "bank-a", Source: "nats", ReceivedAt: received, Headers: map[string]string{}, Payload: []byte(`{}`)}},
		{"full", bridge.Envelope{
			ID: "a2", Partner: "bank-a", Source: "amqp", EventType: "payment.received", ReceivedAt: received, Attempt: 3,
			Headers: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "X-Custom": "v"},
			Payload: []byte(`{"amount":1}`),
		}},
		{"partner header named like a bridge header cannot forge it", bridge.Envelope{
			ID: "a3", Partner: "bank-a", Source: "nats", ReceivedAt: received,
			Headers: map[string]string{"Dmz-Partner": "dealer-c"}, Payload: []byte(`x`),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromMsg(ToMsg("dmz.ingest.bank-a", &tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.env) {
				t.Fatalf("round trip changed the envelope:\n got %+v\nwant %+v", *got, tc.env)
			}
		})
	}
}

func TestDecodeRejectsIncompleteMessages(t *testing.T) {
	m := ToMsg("s", &bridge.Envelope{ID: "x", Partner: "p", ReceivedAt: time.Now()})
	m.Header.Del(bridge.HeaderPartner)
	if _, err := FromMsg(m); err == nil {
		t.Fatal("a stored message without partner must not decode")
	}
	m = ToMsg("s", &bridge.Envelope{ID: "x", Partner: "p", ReceivedAt: time.Now()})
	m.Header.Set(bridge.HeaderAttempt, "three")
	if _, err := FromMsg(m); err == nil {
		t.Fatal("a bad attempt header must not decode")
	}
}

func TestDeadLetterMsg(t *testing.T) {
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := first.Add(time.Hour)
	env := &bridge.Envelope{ID: "e1", Partner: "bank-a", Source: "nats", Attempt: 2, ReceivedAt: first, Headers: map[string]string{"traceparent": "00-abc"}, Payload: []byte("raw")}
	m := DeadLetterMsg("dmz.dlq.bank-a", env, bridge.Reject(bridge.ReasonSchemaInvalid, "line1\nline2 %s", strings.Repeat("x", 5000)), first, now)
	want := map[string]string{
		bridge.HeaderReason:       bridge.ReasonSchemaInvalid,
		bridge.HeaderOriginalID:   "e1",
		bridge.HeaderFirstFailure: first.Format(time.RFC3339Nano),
		bridge.HeaderLastFailure:  now.Format(time.RFC3339Nano),
		bridge.HeaderPartner:      "bank-a",
		bridge.HeaderTraceParent:  "00-abc",
	}
	for k, v := range want {
		if got := m.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if m.Header.Get(bridge.HeaderMsgID) == "e1" {
		t.Error("the dead-letter entry must not reuse the event id, or a later replay would be deduplicated away")
	}
	detail := m.Header.Get(bridge.HeaderError)
	if strings.ContainsAny(detail, "\r\n") || len(detail) > maxErrorHeader {
		t.Errorf("error detail must be one capped line, got %d bytes", len(detail))
	}
	if string(m.Data) != "raw" {
		t.Errorf("payload = %q, want the original", m.Data)
	}
}

func TestContentIDStable(t *testing.T) {
	a := bridge.ContentID("bank-a", []byte("x"))
	if a != bridge.ContentID("bank-a", []byte("x")) {
		t.Fatal("same content must give the same id")
	}
	if a == bridge.ContentID("dealer-c", []byte("x")) {
		t.Fatal("the same payload from two partners must not collide")
	}
}

func TestBackoffBounds(t *testing.T) {
	b := bridge.Backoff{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for i := range 20 {
		d := b.Next()
		ceiling := min(10*time.Millisecond<<i, 80*time.Millisecond)
		if d < ceiling/2 || d > ceiling {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, ceiling/2, ceiling)
		}
	}
	b.Reset()
	if d := b.Next(); d > 10*time.Millisecond {
		t.Fatalf("after reset the delay must start over, got %v", d)
	}
}

func TestHeaderHygiene(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"plain", "plain"},
		{"a\r\nDmz-Partner: evil", "aDmz-Partner: evil"},
		{"tab\there", "tabhere"},
		{"ünïcode ok", "ünïcode ok"},
	}
	for _, c := range cases {
		if got := bridge.CleanHeaderValue(c.in); got != c.want {
			t.Errorf("CleanHeaderValue(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for k, want := range map[string]bool{"X-Id": true, "": false, "a b": false, "a:b": false, "ä": false, strings.Repeat("k", 257): false} {
		if got := bridge.ValidHeaderKey(k); got != want {
			t.Errorf("ValidHeaderKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestExpandTarget(t *testing.T) {
	for _, tc := range []struct{ tmpl, partner, typ, want string }{
		{"erp.events", "bank-a", "order.created", "erp.events"},
		{"erp.{partner}.{type}", "bank-a", "order.created", "erp.bank-a.order.created"},
		{"{type}.{type}", "p", "t", "t.t"},
		{"erp.{type}", "p", "{partner}", "erp.{partner}"},
	} {
		if got := bridge.ExpandTarget(tc.tmpl, tc.partner, tc.typ); got != tc.want {
			t.Errorf("ExpandTarget(%q, %q, %q) = %q, want %q", tc.tmpl, tc.partner, tc.typ, got, tc.want)
		}
	}
}

func TestStreamOf(t *testing.T) {
	topo := NewTopology("DMZ")
	for subject, want := range map[string]string{
		topo.IngestSubject("bank-a"):     topo.IngestStream(),
		topo.DeadLetterSubject("bank-a"): topo.DeadLetterStream(),
		"dmz.audit.bank-a":               "dmz.audit.bank-a",
		"dmz.ingestx.bank-a":             "dmz.ingestx.bank-a",
	} {
		if got := topo.StreamOf(subject); got != want {
			t.Errorf("StreamOf(%q) = %q, want %q", subject, got, want)
		}
	}
}
