package schemacheck

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmzbridge/dmzbridge/schemas"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test schema %s: %v", s, err)
	}
	return v
}

const base = `{
  "type": "object",
  "required": ["id"],
  "additionalProperties": false,
  "properties": {
    "id": {"type": "string", "pattern": "^[A-Z0-9-]{1,40}$"},
    "status": {"enum": ["open", "paid"]},
    "amount": {"type": "number", "minimum": 0, "maximum": 1000000},
    "note": {"type": "string", "maxLength": 200},
    "lines": {"type": "array", "maxItems": 50, "items": {"$ref": "#/$defs/line"}},
    "created": {"type": "string", "format": "date-time"}
  },
  "$defs": {"line": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}}}
}`

// edit applies a change to the base schema as a decoded document.
func edit(t *testing.T, f func(m map[string]any)) any {
	d := decode(t, base).(map[string]any)
	f(d)
	return d
}

func props(m map[string]any) map[string]any { return m["properties"].(map[string]any) }
func prop(m map[string]any, k string) map[string]any {
	return props(m)[k].(map[string]any)
}

func TestCompareBackward(t *testing.T) {
	tests := []struct {
		name     string
		change   func(m map[string]any)
		wantRule string // "" means compatible
		wantPtr  string
	}{
		{"same", func(map[string]any) {}, "", ""},
		{"new optional property", func(m map[string]any) {
			props(m)["channel"] = map[string]any{"type": "string"}
		}, "", ""},
		{"widened enum", func(m map[string]any) {
			prop(m, "status")["enum"] = []any{"open", "paid", "void"}
		}, "", ""},
		{"raised maximum", func(m map[string]any) { prop(m, "amount")["maximum"] = 2e6 }, "", ""},
		{"integer to number", func(m map[string]any) {
			m["$defs"].(map[string]any)["line"].(map[string]any)["properties"].(map[string]any)["qty"].(map[string]any)["type"] = "number"
		}, "", ""},
		{"dropped required", func(m map[string]any) { m["required"] = []any{} }, "", ""},
		{"description only", func(m map[string]any) { prop(m, "note")["description"] = "free text" }, "", ""},

		{"new required property", func(m map[string]any) {
			m["required"] = []any{"id", "status"}
		}, "required-added", "/required"},
		{"removed property, closed object", func(m map[string]any) { delete(props(m), "note") }, "property-removed", "/properties/note"},
		{"narrowed type", func(m map[string]any) { prop(m, "amount")["type"] = "integer" }, "type-narrowed", "/properties/amount/type"},
		{"narrowed enum", func(m map[string]any) { prop(m, "status")["enum"] = []any{"open"} }, "enum-narrowed", "/properties/status/enum"},
		{"changed pattern", func(m map[string]any) { prop(m, "id")["pattern"] = "^[A-Z]{1,40}$" }, "pattern-changed", "/properties/id/pattern"},
		{"added format", func(m map[string]any) { prop(m, "note")["format"] = "email" }, "format-changed", "/properties/note/format"},
		{"shorter maxLength", func(m map[string]any) { prop(m, "note")["maxLength"] = 100.0 }, "bound-narrowed", "/properties/note/maxLength"},
		{"raised minimum", func(m map[string]any) { prop(m, "amount")["minimum"] = 1.0 }, "bound-narrowed", "/properties/amount/minimum"},
		{"exclusive at same bound", func(m map[string]any) {
			delete(prop(m, "amount"), "minimum")
			prop(m, "amount")["exclusiveMinimum"] = 0.0
		}, "bound-narrowed", "/properties/amount/minimum"},
		{"fewer items", func(m map[string]any) { prop(m, "lines")["maxItems"] = 10.0 }, "bound-narrowed", "/properties/lines/maxItems"},
		{"through a $ref", func(m map[string]any) {
			m["$defs"].(map[string]any)["line"].(map[string]any)["required"] = []any{"sku", "qty"}
		}, "required-added", "/properties/lines/items/required"},
		{"closed an open object", func(m map[string]any) {
			m["$defs"].(map[string]any)["line"].(map[string]any)["additionalProperties"] = false
		}, "additional-properties-closed", "/properties/lines/items/additionalProperties"},
		{"unknown keyword added", func(m map[string]any) {
			prop(m, "note")["not"] = map[string]any{"const": "x"}
		}, "unproven", "/properties/note/not"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := decode(t, base)
			nw := edit(t, tc.change)
			got := Compare(old, nw, Backward)
			if tc.wantRule == "" {
				if len(got) != 0 {
					t.Fatalf("compatible change reported: %v", got)
				}
				return
			}
			for _, f := range got {
				if f.Rule == tc.wantRule && f.Pointer == tc.wantPtr && f.Direction == Backward {
					return
				}
			}
			t.Fatalf("want %s at %s, got %v", tc.wantRule, tc.wantPtr, got)
		})
	}
}

func TestCompareForwardAndFull(t *testing.T) {
	old := decode(t, base)
	widened := edit(t, func(m map[string]any) { prop(m, "status")["enum"] = []any{"open", "paid", "void"} })
	if got := Compare(old, widened, Backward); len(got) != 0 {
		t.Fatalf("backward: widening reported: %v", got)
	}
	fwd := Compare(old, widened, Forward)
	if len(fwd) != 1 || fwd[0].Rule != "enum-narrowed" || fwd[0].Direction != Forward {
		t.Fatalf("forward: want one enum finding, got %v", fwd)
	}
	narrowed := edit(t, func(m map[string]any) { m["required"] = []any{"id", "note"} })
	full := Compare(old, narrowed, Full)
	if len(full) != 1 || full[0].Direction != Backward {
		t.Fatalf("full on a narrowing: want the backward finding only, got %v", full)
	}
	if got := Compare(old, old, Full); len(got) != 0 {
		t.Fatalf("full on identical: %v", got)
	}
}

// Every shipped schema compared with itself yields nothing: the walk
// follows their $refs and knows their keywords, so an unchanged schema is
// never "unproven".
func TestShippedSchemasAgainstThemselves(t *testing.T) {
	entries, err := fs.ReadDir(schemas.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		raw, err := fs.ReadFile(schemas.FS, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		d := decode(t, string(raw))
		if got := Compare(d, decode(t, string(raw)), Full); len(got) != 0 {
			t.Errorf("%s against itself: %v", e.Name(), got)
		}
		n++
	}
	if n < 4 {
		t.Fatalf("found %d shipped schemas, want at least 4", n)
	}
	reps, err := Check(schemas.FS, "schemas", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if r.Breaks() {
			t.Errorf("shipped schemas: %s v%d→v%d breaks: %v", r.Type, r.OldVersion, r.NewVersion, r.Findings)
		}
	}
}

func TestCheckDirWithSamples(t *testing.T) {
	v2 := edit(t, func(m map[string]any) { m["required"] = []any{"id", "status"} })
	raw2, _ := json.Marshal(v2)
	dir := fstest.MapFS{
		"inv.v1.json":   {Data: []byte(base)},
		"inv.v2.json":   {Data: raw2},
		"other.v1.json": {Data: []byte(`{"type":"object"}`)},
		"README.txt":    {Data: []byte("not a schema")},
	}
	samples := fstest.MapFS{
		"a.json":     {Data: []byte(`{"id":"A-1","status":"open"}`)},
		"b.json":     {Data: []byte(`{"id":"A-2"}`)},
		"sub/c.json": {Data: []byte(`{"id":"A-3","amount":5}`)},
		"bad.json":   {Data: []byte(`{"id":1}`)}, // the old version rejects it: not counted
	}
	reps, err := Check(dir, "schemas", Options{Mode: Backward, Samples: samples})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 {
		t.Fatalf("want one type with two versions, got %d", len(reps))
	}
	r := reps[0]
	if r.Type != "inv" || r.OldVersion != 1 || r.NewVersion != 2 || !r.Breaks() {
		t.Fatalf("report: %+v", r)
	}
	if r.Samples != 3 || r.Rejected != 2 {
		t.Fatalf("samples %d rejected %d, want 3 and 2 (%v)", r.Samples, r.Rejected, r.RejectedFiles)
	}
	reps, err = Check(dir, "schemas", Options{Intended: []string{"inv.v2"}})
	if err != nil {
		t.Fatal(err)
	}
	if reps[0].Breaks() || len(reps[0].Findings) == 0 {
		t.Fatalf("an intended break still lists its findings and does not fail: %+v", reps[0])
	}
}
