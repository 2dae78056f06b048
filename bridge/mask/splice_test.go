package mask

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// splicePolicy is treePolicy without its rule on a whole object, which
// the splicer leaves to the tree: every other action and path shape.
var splicePolicy = config.Masking{HashKeyEnv: "MASK_KEY", Policies: []config.MaskPolicy{{
	Fields:    treePolicy.Policies[0].Fields[:len(treePolicy.Policies[0].Fields)-1],
	Detectors: treePolicy.Policies[0].Detectors,
}}}

// decodeJSON reads a document as the ERP would.
func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	var doc any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil || d.More() {
		t.Fatalf("not one JSON document (%v): %s", err, b)
	}
	return doc
}

// spliceOrSkip masks raw both ways when both parsers read it alike, as
// the stage ensures; ok is false otherwise or when the splicer gives up.
func spliceOrSkip(t testing.TB, p *Policy, raw string) (applied, spliced []byte, ok bool) {
	t.Helper()
	if !utf8.ValidString(raw) {
		return nil, nil, false
	}
	var doc any
	d := json.NewDecoder(strings.NewReader(raw))
	d.UseNumber()
	if d.Decode(&doc) != nil || d.More() {
		return nil, nil, false
	}
	out, ok := spliceRaw(p, raw)
	if !ok {
		return nil, nil, false
	}
	return Append(nil, p.Apply("t", doc)), out, true
}

// spliceRaw splices raw along its tape; ok is false when the splicer gives
// up or the tape reader refuses raw.
func spliceRaw(p *Policy, raw string) ([]byte, bool) {
	var r jsontext.TapeReader
	tape, err := r.Read([]byte(raw))
	if err != nil {
		return nil, false
	}
	s := splicer{p: p, tp: p.forType("t"), t: tape, src: []byte(raw)}
	return s.splice(nil)
}

func TestSpliceMatchesApply(t *testing.T) {
	p, err := Compile("masking", splicePolicy, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ raw, want string }{
		{`{"note":"gone"}`, `{}`},
		{`{ "note" : "gone" , "a":1 }`, `{ "a":1 }`},
		{`{"a":1,"note":"gone"}`, `{"a":1}`},
		{`{"a":1, "note":"gone", "b":2}`, `{"a":1, "b":2}`},
		{`{"notes":{"x":1,"y":[2],"z":{"w":"DE89370400440532013000"}},"k":true}`, `{"notes":{},"k":true}`},
		{`{"lines":[{"card":"4111111111111111"},{"card":"x"},{"card":12345}]}`, `{"lines":[{"card":"****11"},{"card":"****45"}]}`},
		{`{"lines":[1,2]}`, `{"lines":[1]}`},
		{`{"lines":[1, 2 ,3]}`, `{"lines":[1 ,3]}`},
		{`{"refs":["r1",2,null,{"a":1}]}`, `{"refs":["[REDACTED]","[REDACTED]","[REDACTED]","[REDACTED]"]}`},
		{"{\n  \"text\": \"mail x.y@z.example now\",\n  \"n\": 1\n}", "{\n  \"text\": \"mail [REDACTED] now\",\n  \"n\": 1\n}"},
		{`{"text":"a\u00e9 x.y@z.example \"q\""}`, `{"text":"aé [REDACTED] \"q\""}`},
		{`"free text with bob@acme.example"`, `"free text with [REDACTED]"`},
		{`[{"payer":{"iban":"x"}}]`, `[{"payer":{"iban":"x"}}]`},
	} {
		applied, spliced, ok := spliceOrSkip(t, p, tc.raw)
		if !ok {
			t.Fatalf("%s: not spliced", tc.raw)
		}
		if string(spliced) != tc.want {
			t.Errorf("%s\n got  %s\n want %s", tc.raw, spliced, tc.want)
		}
		if !reflect.DeepEqual(decodeJSON(t, spliced), decodeJSON(t, applied)) {
			t.Errorf("%s\nspliced %s\nApply   %s", tc.raw, spliced, applied)
		}
	}
}

// TestSpliceGivesUp: the cases the tree must take.
func TestSpliceGivesUp(t *testing.T) {
	tree, err := Compile("masking", treePolicy, env)
	if err != nil {
		t.Fatal(err)
	}
	byIndex, err := Compile("masking", config.Masking{Policies: []config.MaskPolicy{{Fields: []config.MaskField{
		{Path: "lines[0]", Action: "drop"}, {Path: "lines[1].x", Action: "redact"},
	}}}}, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p   *Policy
		raw string
	}{
		{tree, `{"payer":{"iban":"DE89370400440532013000"}}`},   // keep_last of a whole object
		{tree, `{"payer":{"iban":["DE89370400440532013000"]}}`}, // … and of an array
	} {
		if out, ok := spliceRaw(tc.p, tc.raw); ok {
			t.Errorf("%s: spliced to %s", tc.raw, out)
		}
	}
	if byIndex.forType("t").splice {
		t.Error("an index after a drop by index is spliced; Apply shifts the elements")
	}
	if !tree.forType("t").splice {
		t.Error("treePolicy's type is not spliceable")
	}
}

// FuzzSpliceMatchesApply: whatever the splicer masks reads as the
// document Apply gives, and nothing it was told to hide survives.
func FuzzSpliceMatchesApply(f *testing.F) {
	f.Add(`{"payer":{"iban":"DE89370400440532013000","email":"e@x.example"},"lines":[{"card":"4111111111111111"},{"card":1}],"notes":{"a":1}}`)
	f.Add(`{"meta":{"a":{"secret":[1,"2"]}},"refs":[{"x":"DE89 3704 0044 0532 0130 00"}],"note":null}`)
	f.Add(`["5500005555555559",{"lines":[[1],{"card":true}]}]`)
	f.Add("{ \"note\" : 1 , \"lines\" : [ 1 , 2 , 3 ] , \"x\" : \"a\\n\\u00e9 b@c.example\" }")
	f.Add(`{"a":{"note":1},"note":2,"lines":[],"notes":[]}`)
	p, err := Compile("masking", splicePolicy, env)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		applied, spliced, ok := spliceOrSkip(t, p, raw)
		if !ok {
			return
		}
		if !reflect.DeepEqual(decodeJSON(t, spliced), decodeJSON(t, applied)) {
			t.Fatalf("%q\nspliced %s\nApply   %s", raw, spliced, applied)
		}
	})
}

// FuzzAppendMaskedNeverPanics: the stage hands AppendMasked only JSON,
// with its tape, but any text must at worst be refused, and JSON must come
// out as JSON, read onto a tape here or not.
func FuzzAppendMaskedNeverPanics(f *testing.F) {
	f.Add(`{"note":1,"lines":[1,2`)
	f.Add(`{a}`)
	f.Add(`{"x":"\`)
	f.Add(`[,,]`)
	f.Add(`{"text":"\ud83d\ude00 x@y.example","note":1,"lines":[{"card":"4111111111111111"},2]}`)
	p, err := Compile("masking", splicePolicy, env)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := p.AppendMasked(nil, "t", []byte(raw), nil)
		if json.Valid([]byte(raw)) && !json.Valid(out) {
			t.Fatalf("%q masked to invalid %q", raw, out)
		}
	})
}

// TestAppendMaskedWithoutTape: given no tape, AppendMasked reads the
// event itself, escaped names and surrogate pairs included, and writes a
// document that reads as Apply's; what the reader refuses comes out as
// null, never unmasked.
func TestAppendMaskedWithoutTape(t *testing.T) {
	p, err := Compile("masking", splicePolicy, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		`{"t\u0065xt":"a x.y@z.example","note":"gone"}`,
		`{"text":"\ud83d\ude00 x.y@z.example","note":"gone"}`,
	} {
		want := decodeJSON(t, Append(nil, p.Apply("t", decodeJSON(t, []byte(raw)))))
		if got := p.AppendMasked(nil, "t", []byte(raw), nil); !reflect.DeepEqual(decodeJSON(t, got), want) {
			t.Errorf("%s\nAppendMasked %s\nApply        %v", raw, got, want)
		}
	}
	for _, raw := range []string{`{"text":"\ud800 x.y@z.example"}`, "{\"text\":\"\xff x.y@z.example\"}", `{"a":1,"a":2}`} {
		if got := string(p.AppendMasked(nil, "t", []byte(raw), nil)); got != "null" {
			t.Errorf("%q masked to %s", raw, got)
		}
	}
}
