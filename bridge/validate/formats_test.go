package validate

import (
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

func TestQuickFormats(t *testing.T) {
	tests := []struct {
		format string
		yes    []string
		no     []string // not certainly valid: left to the library
	}{
		{"date", []string{"2026-11-24", "2024-02-29", "2000-02-29", "1999-12-31"},
			[]string{"2026-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-4-01", "2026-04-01x", "yesterday"}},
		{"date-time", []string{"2026-11-23T10:00:00Z", "2026-11-23T23:59:59.123456Z"},
			[]string{"2026-11-23T10:00:00+01:00", "2026-11-23t10:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T10:00:60Z", "2026-11-23T10:00:00.Z", "2026-11-23T10:00:00"}},
		{"email", []string{"ap@acme.example", "jana.novak@example.org", "a+b_c%d-e@x-y.example.com"},
			[]string{"@acme.example", "a@b", "a@b.c0m", "a..b@x.example", ".a@x.example", "a.@x.example", "a@-x.example", "a@x-.example", "a@b@c.example", `"a b"@x.example`, "a@[127.0.0.1]"}},
	}
	for _, tc := range tests {
		quick := quickFormats[tc.format]
		for _, s := range tc.yes {
			if !quick([]byte(s)) {
				t.Errorf("%s: %q not accepted", tc.format, s)
			}
			if !jsonschema.Formats[tc.format](s) {
				t.Errorf("%s: %q accepted but the library rejects it", tc.format, s)
			}
		}
		for _, s := range tc.no {
			if quick([]byte(s)) {
				t.Errorf("%s: %q accepted", tc.format, s)
			}
		}
	}
}

// FuzzQuickFormats: a quick check accepts only what the library's checker
// accepts.
func FuzzQuickFormats(f *testing.F) {
	for _, s := range []string{"2026-11-24", "2026-11-23T10:00:00.5Z", "ap@acme.example", "a-b.c@d-e.fg", "2400-02-29"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, quick := range quickFormats {
			if quick([]byte(s)) && !jsonschema.Formats[name](s) {
				t.Fatalf("%s: quick check accepts %q, the library does not", name, s)
			}
		}
	})
}
