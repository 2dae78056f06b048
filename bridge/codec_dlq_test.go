package bridge

import (
	"testing"
	"time"
)

func TestDeadLetterEntryHeaders(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	env := &Envelope{ID: "ev-1", Partner: "bank-a", Source: "amqp", EventType: "payment.received", ReceivedAt: now.Add(-time.Hour), Attempt: 5,
		Headers: map[string]string{HeaderTraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, Payload: []byte(`{}`)}
	cases := []struct {
		name   string
		f      Failure
		msgID  string
		first  string
		in     string
		reason string
	}{
		{"forward failure keyed by ingest sequence", Failure{Rejection: Reject(ReasonMaxAttempts, "gone"), First: now.Add(-time.Minute), Last: now, In: FailedAtForward, Key: "s42"},
			"dlq-bank-a/ev-1-s42", "2026-11-23T09:59:00Z", FailedAtForward, ReasonMaxAttempts},
		{"first failure defaults to last", Failure{Rejection: Reject(ReasonSchemaInvalid, "bad\r\nline"), Last: now, In: FailedAtIntake},
			"dlq-bank-a/ev-1-5", "2026-11-23T10:00:00Z", FailedAtIntake, ReasonSchemaInvalid},
		{"no rejection is unhandled", Failure{Last: now}, "dlq-bank-a/ev-1-5", "2026-11-23T10:00:00Z", "", ReasonUnhandled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := DeadLetterEntry("dmz.dlq.bank-a", env, tc.f)
			h := m.Header
			for k, want := range map[string]string{
				HeaderMsgID: tc.msgID, HeaderOriginalID: "ev-1", HeaderReason: tc.reason, HeaderFirstFailure: tc.first,
				HeaderLastFailure: "2026-11-23T10:00:00Z", HeaderFailedIn: tc.in, HeaderAttempt: "5",
				HeaderTraceParent: env.Headers[HeaderTraceParent], HeaderPartner: "bank-a", HeaderSource: "amqp",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if e := h.Get(HeaderError); e != "" && e != "gone" && e != "bad  line" {
				t.Errorf("error header %q", e)
			}
			back, err := FromMsg(m)
			if err != nil || back.ID != "ev-1" {
				t.Fatalf("decoded id %v %v: a dead-letter entry decodes to the event's own id", back, err)
			}
		})
	}
}
