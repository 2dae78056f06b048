package store

import (
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
)

func TestDeadLetterEntryHeaders(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	env := &bridge.Envelope{ID: "ev-1", Partner: "bank-a", Source: "amqp", EventType: "payment.received", ReceivedAt: now.Add(-time.Hour), Attempt: 5,
		Headers: map[string]string{bridge.HeaderTraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, Payload: []byte(`{}`)}
	cases := []struct {
		name   string
		f      Failure
		msgID  string
		first  string
		in     string
		reason string
	}{
		{"forward failure keyed by ingest sequence", Failure{Rejection: bridge.Reject(bridge.ReasonMaxAttempts, "gone"), First: now.Add(-time.Minute), Last: now, In: bridge.FailedAtForward, Key: "s42"},
			"dlq-bank-a/ev-1-s42", "2026-11-23T09:59:00Z", bridge.FailedAtForward, bridge.ReasonMaxAttempts},
		{"first failure defaults to last", Failure{Rejection: bridge.Reject(bridge.ReasonSchemaInvalid, "bad\r\nline"), Last: now, In: bridge.FailedAtIntake},
			"dlq-bank-a/ev-1-5", "2026-11-23T10:00:00Z", bridge.FailedAtIntake, bridge.ReasonSchemaInvalid},
		{"no rejection is unhandled", Failure{Last: now}, "dlq-bank-a/ev-1-5", "2026-11-23T10:00:00Z", "", bridge.ReasonUnhandled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := DeadLetterEntry("dmz.dlq.bank-a", env, tc.f)
			h := m.Header
			for k, want := range map[string]string{
				bridge.HeaderMsgID: tc.msgID, bridge.HeaderOriginalID: "ev-1", bridge.HeaderReason: tc.reason, bridge.HeaderFirstFailure: tc.first,
				bridge.HeaderLastFailure: "2026-11-23T10:00:00Z", bridge.HeaderFailedIn: tc.in, bridge.HeaderAttempt: "5",
				bridge.HeaderTraceParent: env.Headers[bridge.HeaderTraceParent], bridge.HeaderPartner: "bank-a", bridge.HeaderSource: "amqp",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if e := h.Get(bridge.HeaderError); e != "" && e != "gone" && e != "bad  line" {
				t.Errorf("error header %q", e)
			}
			back, err := FromMsg(m)
			if err != nil || back.ID != "ev-1" {
				t.Fatalf("decoded id %v %v: a dead-letter entry decodes to the event's own id", back, err)
			}
		})
	}
}
