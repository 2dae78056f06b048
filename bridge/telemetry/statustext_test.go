package telemetry

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestWriteStatusEdges: the edges of the table — a bridge that has not
// polled yet and has no partners, and durations at each precision.
func TestWriteStatusEdges(t *testing.T) {
	var out bytes.Buffer
	if err := WriteStatus(&out, Status{Ready: Readiness{Ready: true}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bridge:      ready\n", "durability:  -\n", "measured:    never", "(no partners)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("empty status lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "CERTIFICATE") {
		t.Errorf("a certificate table without certificates:\n%s", out.String())
	}
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 1400 * time.Millisecond: "1s", 119 * time.Second: "119s", 5 * time.Minute: "5m",
		119 * time.Minute: "119m", 3 * time.Hour: "3h", 47 * time.Hour: "47h", 49 * time.Hour: "2d", 400 * 24 * time.Hour: "400d",
	} {
		if got := roundAge(d); got != want {
			t.Errorf("roundAge(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestStatusTextPieces(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	cases := []struct{ got, want string }{
		{byteSize(0), "0 B"},
		{byteSize(1023), "1023 B"},
		{byteSize(1536), "1.5 KiB"},
		{byteSize(5 << 30), "5.0 GiB"},
		{usage(512, 0), "512 B (no limit)"},
		{usage(256<<20, 1<<30), "25% of 1.0 GiB"},
		{expiryText(now.Add(30*24*time.Hour), now), "2026-12-23 (in 30d)"},
		{expiryText(now.Add(-3*time.Hour), now), "2026-11-23 (EXPIRED 3h ago)"},
		{readinessLine(Readiness{}), "NOT READY"},
		{readinessLine(Readiness{Ready: true, Checks: map[string]string{"jetstream": "ok", "erp": "ok"}}), "ready (erp: ok, jetstream: ok)"},
		{storeLine(StoreStatus{}), ""},
	}
	for i, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("case %d: %q, want %q", i, tc.got, tc.want)
		}
	}
}
