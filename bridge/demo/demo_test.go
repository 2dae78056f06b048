package demo

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
)

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
