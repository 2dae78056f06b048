package bridge

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDeadLetterLogRateLimitsPerReason(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := NewDeadLetterLogLimited(log, 3, time.Minute, func() time.Time { return now })
	env := func(id string) *Envelope {
		return &Envelope{ID: id, Partner: "bank-a", EventType: "payment.received", Payload: []byte(`{"iban":"DE89370400440532013000"}`)}
	}
	rej := &Rejection{Reason: ReasonSchemaInvalid, Detail: `/iban: "DE89370400440532013000" does not match`}

	for i := 0; i < 10; i++ {
		d.DeadLettered(env("s"+string(rune('0'+i))), rej)
	}
	// A different reason has its own budget.
	d.DeadLettered(env("m1"), &Rejection{Reason: ReasonMalformed})
	lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }
	if got := len(lines()); got != 4 {
		t.Fatalf("first minute: %d lines, want 3 schema_invalid + 1 malformed:\n%s", got, buf.String())
	}
	for _, want := range []string{"id=s0", "id=s2", "partner=bank-a", "reason=schema_invalid", "event_type=payment.received", "id=m1 "} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "id=s3") {
		t.Errorf("fourth schema_invalid line within the minute was logged:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "DE89") {
		t.Errorf("payload or detail leaked into the log:\n%s", buf.String())
	}

	// The next interval first reports what was held back, then logs again.
	now = now.Add(time.Minute)
	buf.Reset()
	d.DeadLettered(env("s10"), rej)
	l := lines()
	if len(l) != 2 || !strings.Contains(l[0], "suppressed=7") || !strings.Contains(l[0], "reason=schema_invalid") || !strings.Contains(l[1], "id=s10") {
		t.Fatalf("second minute: want the summary of 7 then the event:\n%s", buf.String())
	}

	// Flush reports a pending count once.
	for i := 0; i < 5; i++ {
		d.DeadLettered(env("x"), rej)
	}
	buf.Reset()
	d.Flush()
	d.Flush()
	if l := lines(); len(l) != 1 || !strings.Contains(l[0], "suppressed=3") {
		t.Fatalf("flush: want one summary of 3:\n%s", buf.String())
	}
}
