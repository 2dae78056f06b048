package dlq

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"", time.Time{}, false},
		{"2026-11-20T08:30:00Z", time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC), false},
		{"2026-11-20T08:30:00.5+01:00", time.Date(2026, 11, 20, 7, 30, 0, 5e8, time.UTC), false},
		{"2026-11-20", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"-1h", time.Time{}, true}, // the future is not "ago"
		{"yesterday", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
	}
	for _, tc := range cases {
		got, err := ParseWhen(tc.in, now)
		if (err != nil) != tc.bad || !got.Equal(tc.want) {
			t.Errorf("ParseWhen(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

// TestProgressAndSummaryAreTrue: progress lines say how many entries were
// visited and, apart from that, what was decided; a replay that replayed
// nothing never reads "replayed 5/5".
func TestProgressAndSummaryAreTrue(t *testing.T) {
	cases := []struct {
		name, action string
		sum          Summary
		progress     []string // in the progress line at 5/5
		summary      string   // at the start of the summary line
		not          string
	}{
		{"replay that replayed nothing", "replay", Summary{Selected: 5, StillRejected: 5},
			[]string{"replay: 5/5 entries visited: 5 still rejected (5 left in the dead-letter stream"},
			"5 selected: 0 replayed, 0 purged, 5 still rejected", "replayed 5"},
		{"replay, some left", "replay", Summary{Selected: 5, Replayed: 3, Failed: 2},
			[]string{"5/5 entries visited: 3 replayed, 2 failed (2 left"}, "5 selected: 3 replayed, 0 purged, 0 still rejected, 2 failed", ""},
		{"purge dry run", "purge --dry-run", Summary{Selected: 5, WouldPurge: 5},
			[]string{"purge --dry-run: 5/5 entries visited: 5 would be purged (0 left"}, "5 selected: 0 replayed, 0 purged", "5 purged"},
		{"replay dry run", "replay --dry-run", Summary{Selected: 5, WouldReplay: 2, WouldReject: 3},
			[]string{"2 would replay, 3 would be rejected (3 left"}, "5 selected: 0 replayed, 0 purged, 0 still rejected, 0 failed, 2 would replay, 3 would be rejected", ""},
		{"nothing decided", "purge", Summary{},
			[]string{"purge: 5/5 entries visited: none decided yet (0 left"}, "0 selected: 0 replayed", ""},
		{"reseal", "reseal", Summary{Selected: 5, Resealed: 4, Current: 1},
			[]string{"4 resealed, 1 already under the current key"}, "5 selected: 0 replayed", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := NewProgressPrinter(&buf, tc.action, time.Second)
			p.Update(Progress{Done: 5, Total: 5, Rate: 10, Summary: tc.sum})
			p.Finish()
			for _, want := range tc.progress {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("progress %q lacks %q", buf.String(), want)
				}
			}
			if tc.not != "" && strings.Contains(buf.String(), tc.not) {
				t.Errorf("progress %q claims %q", buf.String(), tc.not)
			}
			if s := tc.sum.String(); !strings.HasPrefix(s, tc.summary) {
				t.Errorf("summary %q, want it to start %q", s, tc.summary)
			}
		})
	}
	if strings.Contains(Summary{Selected: 1, Replayed: 1}.String(), "resealed") {
		t.Error("a replay summary mentions resealing")
	}
}

// TestReportText: in text only entries left behind are listed, with their
// detail masked; in JSON every result and the summary.
func TestReportText(t *testing.T) {
	var buf bytes.Buffer
	r := NewReport(&buf, false)
	r.Result(Result{Seq: 1, ID: "a-1", Partner: "a", Outcome: Replayed})
	r.Result(Result{Seq: 2, ID: "a-2", Partner: "a", Outcome: StillRejected, Reason: "schema_invalid", Detail: "/mail: ada@example.com is not allowed"})
	r.Finish(Summary{Selected: 2, Replayed: 1, StillRejected: 1})
	out := buf.String()
	if strings.Contains(out, "a-1") || !strings.Contains(out, "still_rejected 2 a a-2 schema_invalid: /mail: ") ||
		strings.Contains(out, "ada@example.com") || !strings.HasSuffix(out, "2 selected: 1 replayed, 0 purged, 1 still rejected, 0 failed, 0 would replay, 0 would be rejected, 0 would be purged, 0 already gone\n") {
		t.Fatalf("text report:\n%s", out)
	}
	buf.Reset()
	r = NewReport(&buf, true)
	r.Finish(Summary{})
	if buf.String() != "{\n  \"results\": [],\n  \"summary\": {\n    \"selected\": 0\n  }\n}\n" {
		t.Fatalf("empty JSON report:\n%s", buf.String())
	}
}
