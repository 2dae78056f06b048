package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
)

func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded JetStream")
	}
	var buf bytes.Buffer
	if err := Run(context.Background(), Options{Out: &buf, PerPartner: 50}); err != nil {
		t.Fatalf("demo: %v\n%s", err, buf.String())
	}
	out := buf.String()
	// One event in ten is invalid on purpose, one of each reason per
	// partner; the three type_not_allowed ones are replayed after the
	// operator allows the type and then reach the ERP too.
	for _, want := range []string{
		"summary: sent 150", "dead-lettered 15, arrived at ERP 138",
		"type_not_allowed 3", "replayed 3 after", "12 left in the dead-letter stream", `"iban": "****`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("demo summary wrong:\n%s", out)
	}
}

// TestEvents: every tenth event of a partner is invalid, cycling through
// the reasons, and each invalid one is broken the way its reason says.
func TestEvents(t *testing.T) {
	seen := map[string]int{}
	for pi, p := range partners {
		for i := range 5 * invalidEvery * len(rejections) / len(partners) {
			eventType, body, reason := event(p, pi, i)
			if (i%invalidEvery == invalidEvery-1) != (reason != "") {
				t.Fatalf("%s event %d: reason %q", p.name, i, reason)
			}
			seen[reason]++
			var doc map[string]any
			jsonErr := json.Unmarshal(body, &doc)
			switch reason {
			case bridge.ReasonMalformed:
				if jsonErr == nil {
					t.Errorf("%s event %d: malformed but valid JSON", p.name, i)
				}
				continue
			case bridge.ReasonTooLarge:
				if len(body) <= maxBytes {
					t.Errorf("%s event %d: %d bytes is not too large", p.name, i, len(body))
				}
			case bridge.ReasonUnknownType, bridge.ReasonTypeNotAllowed:
				if eventType == p.eventType {
					t.Errorf("%s event %d: %s keeps the partner's type", p.name, i, reason)
				}
			case "":
				if eventType != p.eventType {
					t.Errorf("%s event %d: valid event of type %s", p.name, i, eventType)
				}
			}
			if jsonErr != nil {
				t.Errorf("%s event %d (%q): %v", p.name, i, reason, jsonErr)
			}
			if p.typeSource == "json" && doc["type"] != eventType {
				t.Errorf("%s event %d: type field %v, want %s", p.name, i, doc["type"], eventType)
			}
		}
	}
	for _, r := range rejections {
		if seen[r] == 0 {
			t.Errorf("no event rejected as %s", r)
		}
	}
}

// TestKeepDir: --keep takes a new or empty directory and refuses one
// holding anything, so an old store is never mixed in.
func TestKeepDir(t *testing.T) {
	fresh := filepath.Join(t.TempDir(), "new", "dir")
	if got, err := workDir(fresh); err != nil || got != fresh {
		t.Fatalf("new dir: %q %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(fresh, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := workDir(fresh)
	if ke := (KeepDirError{}); err == nil || !errors.As(err, &ke) || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("non-empty dir: %v", err)
	}
}
