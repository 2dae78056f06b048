package mask

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// treePolicy exercises every action on named members, array wildcards,
// indexes, member wildcards, nested paths and the detectors.
var treePolicy = config.Masking{HashKeyEnv: "MASK_KEY", Policies: []config.MaskPolicy{{
	Fields: []config.MaskField{
		{Path: "/payer/iban", Action: "last4"},
		{Path: "/payer/email", Action: "hash"},
		{Path: "lines[*].card", Action: "keep_last", Keep: 2},
		{Path: "lines[1]", Action: "drop"},
		{Path: "/notes/*", Action: "drop"},
		{Path: "/refs/*", Action: "redact"},
		{Path: "/meta/*/secret", Action: "hash"},
		{Path: "/note", Action: "drop"},
		{Path: "/payer", Action: "keep_last", Keep: 3}, // after the rules above: the whole object's text
	},
	Detectors: []string{"iban", "card", "email"},
}}}

// maskBothWays masks raw with Apply on encoding/json's tree and with
// AppendMasked on its tape; ok is false when the tape reader refuses raw
// (the stage never gives AppendMasked such a payload).
func maskBothWays(t testing.TB, p *Policy, raw string) (applied, appended string, ok bool) {
	t.Helper()
	var r jsontext.TapeReader
	tape, err := r.Read([]byte(raw))
	if err != nil {
		return "", "", false
	}
	var doc any
	d := json.NewDecoder(strings.NewReader(raw))
	d.UseNumber()
	if d.Decode(&doc) != nil {
		t.Fatalf("the tape reader takes what encoding/json refuses: %q", raw)
	}
	// The splicer keeps the partner's member order and spacing: compared
	// as documents, written the one way Append writes them.
	masked := decodeJSON(t, p.AppendMasked(nil, "t", []byte(raw), tape))
	return string(Append(nil, p.Apply("t", doc))), string(Append(nil, masked)), true
}

func TestAppendMaskedMatchesApply(t *testing.T) {
	p, err := Compile("masking", treePolicy, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		`{"payer":{"iban":"DE89370400440532013000","email":"a@b.example","name":"Ann"},"lines":[{"card":"4111111111111111"},{"card":12345},{"sku":"x"}],` +
			`"notes":{"a":"x","b":{"c":1}},"refs":["r1",2,null],"meta":{"m1":{"secret":"s","keep":"k"},"m2":{"secret":{"deep":true}}},"note":"gone",` +
			`"text":"pay GB82 WEST 1234 5698 7654 32 or card 5500 0055 5555 5559, mail x.y@z.example"}`,
		`{"payer":"DE89370400440532013000","lines":"not an array","notes":[1,2],"refs":{"a":1}}`,
		`[{"payer":{"iban":"x"}}]`,
		`"free text with bob@acme.example"`,
		`{"lines":[],"notes":{},"meta":[1]}`,
		`{"Zeta":1,"alpha":{"b":2,"a":[3,{"y":1,"x":2}]},"\u00e9":"\u00e9\n\"","":0}`,
	} {
		applied, appended, ok := maskBothWays(t, p, raw)
		if !ok {
			t.Fatalf("test input read differently: %s", raw)
		}
		if applied != appended {
			t.Errorf("%s\nApply        %s\nAppendMasked %s", raw, applied, appended)
		}
	}
}

// FuzzAppendMaskedMatchesApply: for any document the tape reader takes,
// AppendMasked writes the document Apply gives.
func FuzzAppendMaskedMatchesApply(f *testing.F) {
	f.Add(`{"payer":{"iban":"DE89370400440532013000","email":"e@x.example"},"lines":[{"card":"4111111111111111"},{"card":1}],"notes":{"a":1}}`)
	f.Add(`{"meta":{"a":{"secret":[1,"2"]}},"refs":[{"x":"DE89 3704 0044 0532 0130 00"}],"note":null}`)
	f.Add(`["5500005555555559",{"lines":[[1],{"card":true}]}]`)
	p, err := Compile("masking", treePolicy, env)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		applied, appended, ok := maskBothWays(t, p, raw)
		if ok && applied != appended {
			t.Fatalf("%q\nApply        %s\nAppendMasked %s", raw, applied, appended)
		}
	})
}

// TestAppendMaskedWithoutSplicing: for a policy the splicer gives up on,
// AppendMasked reads the event itself when given no tape and writes what
// Apply gives, nesting up to the reader's depth limit included.
func TestAppendMaskedWithoutSplicing(t *testing.T) {
	p, err := Compile("masking", config.Masking{HashKeyEnv: "MASK_KEY", Policies: []config.MaskPolicy{{
		// An index after a drop by index: Apply shifts the elements, so
		// only the tree way masks this policy.
		Fields:    []config.MaskField{{Path: "/payer", Action: "hash"}, {Path: "lines[0]", Action: "drop"}, {Path: "lines[1].card", Action: "redact"}},
		Detectors: []string{"card", "email"},
	}}}, env)
	if err != nil {
		t.Fatal(err)
	}
	if p.forType("t").splice {
		t.Fatal("the policy is spliceable: the test would not reach the tree way")
	}
	deep := strings.Repeat("[", 63) + strings.Repeat("]", 63)
	for _, raw := range []string{
		`{"payer":{"iban":"DE89370400440532013000","email":"a@b.example"},"lines":[{"card":"1"},{"card":"2"},{"card":"3"}],"text":"card 5500 0055 5555 5559"}`,
		`{"payer":{"iban":"DE89370400440532013000"},"lines":[{"card":"1"},{"card":"2"},{"card":"3"}],"deep":` + deep + `,"text":"mail x.y@z.example"}`,
	} {
		var doc any
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		want := string(Append(nil, p.Apply("t", doc)))
		if got := string(p.AppendMasked(nil, "t", []byte(raw), nil)); got != want {
			t.Errorf("%.80s…\nAppendMasked %.200s\nApply        %.200s", raw, got, want)
		}
	}
}
