package mask

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// fuzzPolicy masks one path per action plus every detector.
var fuzzPolicy = config.Masking{HashKeyEnv: "MASK_KEY", Policies: []config.MaskPolicy{{
	Fields: []config.MaskField{
		{Path: "/payer/iban", Action: "redact"},
		{Path: "lines[*].card", Action: "last4"},
		{Path: "email", Action: "hash"},
		{Path: "/note", Action: "drop"},
		{Path: "/phone", Action: "keep_last", Keep: 2},
	},
	Detectors: []string{"iban", "card", "email"},
}}}

// template is what the output may contain besides the input's own text.
const template = `[REDACTED]hmac:****payer iban lines card email note phone`

// FuzzMask puts secret at every masked path of an arbitrary document and
// checks that masking never panics and the secret never survives.
func FuzzMask(f *testing.F) {
	f.Add([]byte(`{"payer":{"name":"Ann"},"lines":[{"sku":"A"},{"sku":"B"}]}`), "DE89370400440532013000")
	f.Add([]byte(`{"note":"call me","lines":[]}`), "ann@example.com")
	f.Add([]byte(`[1,2,3]`), "4111111111111111")
	f.Add([]byte(`"just text DE89 3704 0044 0532 0130 00"`), "+49 30 1234567")
	f.Add([]byte(`{"payer":"not an object","lines":{"card":1}}`), "secret-value-ü")
	f.Add([]byte(`not json`), "s3cr3t\"\\\n")
	p, err := Compile("masking", fuzzPolicy, env)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte, secret string) {
		dec := func() any {
			var doc any
			d := json.NewDecoder(strings.NewReader(string(raw)))
			d.UseNumber()
			if d.Decode(&doc) != nil {
				return nil
			}
			return doc
		}
		// Arbitrary shapes first: only "no panic" can be asserted there.
		_ = Append(nil, p.Apply("t", dec()))
		doc := dec()
		if doc == nil {
			return
		}

		m, ok := doc.(map[string]any)
		if !ok {
			m = map[string]any{"wrapped": doc}
		}
		base := string(Append(nil, m))
		m["payer"] = map[string]any{"iban": secret, "name": "n"}
		m["lines"] = []any{map[string]any{"card": secret}, map[string]any{"card": secret, "sku": "x"}}
		m["email"] = secret
		m["note"] = secret
		m["phone"] = secret
		out := string(Append(nil, p.Apply("t", m)))

		enc := string(jsontext.AppendString(nil, secret))
		enc = enc[1 : len(enc)-1]
		if len([]rune(secret)) < 6 || strings.ContainsRune(secret, '*') ||
			strings.Contains(base, enc) || strings.Contains(template, enc) {
			return // too short or not distinguishable from the rest
		}
		if strings.Contains(out, enc) {
			t.Fatalf("secret %q survives masking:\n%s", secret, out)
		}
	})
}

// FuzzDetectors checks the detectors never panic, return ordered in-range
// hits, and that what they mask is gone from the output.
func FuzzDetectors(f *testing.F) {
	for _, s := range []string{
		"DE89 3704 0044 0532 0130 00", "4111-1111-1111-1111 and 5500 0055 5555 5559",
		"a@b.co", "GB82WEST12345698765432GB82WEST12345698765432", "1234567890123456789012",
		"\xff\xfe@\x00.com", "",
	} {
		f.Add(s)
	}
	p, err := Compile("masking", config.Masking{Policies: []config.MaskPolicy{{Detectors: []string{"iban", "card", "email"}}}}, env)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, d := range detectors {
			last := 0
			for _, h := range d.find(nil, s) {
				if h[0] < last || h[1] <= h[0] || h[1] > len(s) {
					t.Fatalf("%s(%q): bad hit %v after %d", name, s, h, last)
				}
				last = h[1]
				if name == "iban" && !ibanValid(s[h[0]:h[1]]) || name == "card" && !luhn(s[h[0]:h[1]]) {
					t.Fatalf("%s(%q): hit %q fails its own check", name, s, s[h[0]:h[1]])
				}
			}
		}
		out := text(p.Apply("t", s))
		for _, d := range detectors {
			for _, h := range d.find(nil, out) {
				if hit := out[h[0]:h[1]]; !strings.Contains(RedactToken, hit) {
					t.Fatalf("masked output %q still holds %q", out, hit)
				}
			}
		}
	})
}
