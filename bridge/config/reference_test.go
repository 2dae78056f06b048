package config

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestReferenceDocumentsEveryField(t *testing.T) {
	missing, stale := undocumented()
	if len(missing) > 0 {
		t.Errorf("fields without a line in fieldDocs (reference.go): %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("fieldDocs entries no config field has: %v", stale)
	}
	ref := Reference()
	for _, want := range []string{
		"| `forward.ack_wait` | duration | `30s` |",
		"| `jetstream.durability` | string | (replicated; fsync when embedded) |",
		"| `partners[].name` | string |  |",
		"| `partners[].allowed_types` | list of strings |",
		"| `admin.listen` | string | `127.0.0.1:9180` |",
	} {
		if !strings.Contains(ref, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
}

const (
	readmePath  = "../../README.md"
	markerBegin = "<!-- config-reference:begin -->"
	markerEnd   = "<!-- config-reference:end -->"
)

// TestReadmeReference fails when the README's copy of the configuration
// reference differs from the generated one. With UPDATE_README=1 (task
// docs) it rewrites that section instead.
func TestReadmeReference(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Index(raw, []byte(markerBegin))
	e := bytes.Index(raw, []byte(markerEnd))
	if b < 0 || e < b {
		t.Fatalf("README.md has no %s … %s section: add the two markers on lines of their own where the configuration reference belongs, then run `task docs`", markerBegin, markerEnd)
	}
	want := "\n" + Reference()
	got := string(raw[b+len(markerBegin) : e])
	if got == want {
		return
	}
	if os.Getenv("UPDATE_README") != "" {
		var out bytes.Buffer
		out.Write(raw[:b+len(markerBegin)])
		out.WriteString(want)
		out.Write(raw[e:])
		if err := os.WriteFile(readmePath, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("README.md configuration reference rewritten")
		return
	}
	t.Errorf("README.md's configuration reference is stale: run `task docs` (or `dmzbridge config reference` and paste the output between the markers)")
}
