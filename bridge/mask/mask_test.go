package mask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

const testKey = "0123456789abcdef-test-key"

func env(name string) string {
	if name == "MASK_KEY" {
		return testKey
	}
	return ""
}

func decode(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func compile(t testing.TB, m config.Masking) *Policy {
	t.Helper()
	p, err := Compile("masking", m, env)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func field(path, action string, keep int) config.MaskPolicy {
	return config.MaskPolicy{Fields: []config.MaskField{{Path: path, Action: action, Keep: keep}}}
}

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"/payer/iban", []string{"payer", "iban"}, false},
		{"/lines/*/card", []string{"lines", "*", "card"}, false},
		{"/a~1b/c~0d", []string{"a/b", "c~d"}, false},
		{"payer.iban", []string{"payer", "iban"}, false},
		{"lines[*].card", []string{"lines", "*", "card"}, false},
		{"lines[2].card", []string{"lines", "2", "card"}, false},
		{"m[0][1]", []string{"m", "0", "1"}, false},
		{"a.*.b", []string{"a", "*", "b"}, false},
		{"", nil, true},
		{"a..b", nil, true},
		{"a.", nil, true},
		{"a[x]", nil, true},
		{"a[1", nil, true},
		{"a[-1]", nil, true},
		{"a[1]b", nil, true},
	} {
		p, err := ParsePath(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%q: want error, got %v", tc.in, p.segs)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(p.segs, tc.want) {
			t.Errorf("%q: got %v, %v; want %v", tc.in, p.segs, err, tc.want)
		}
	}
}

func TestActions(t *testing.T) {
	hashOf := func(s string) string {
		p := compile(t, config.Masking{HashKeyEnv: "MASK_KEY", Policies: []config.MaskPolicy{field("/x", "hash", 0)}})
		return string(p.appendHash(nil, s))
	}
	doc := `{"payer":{"iban":"DE89370400440532013000","name":"Ann"},"lines":[{"card":"4111111111111111","n":1},{"card":"5500005555555559","n":2}],"amount":1234.5,"tags":["a","b","c"]}`
	for _, tc := range []struct {
		name   string
		policy config.MaskPolicy
		want   string
	}{
		{"redact", field("/payer/iban", "redact", 0),
			`{"amount":1234.5,"lines":[{"card":"4111111111111111","n":1},{"card":"5500005555555559","n":2}],"payer":{"iban":"[REDACTED]","name":"Ann"},"tags":["a","b","c"]}`},
		{"last4 with wildcard", field("lines[*].card", "last4", 0),
			`{"amount":1234.5,"lines":[{"card":"****1111","n":1},{"card":"****5559","n":2}],"payer":{"iban":"DE89370400440532013000","name":"Ann"},"tags":["a","b","c"]}`},
		{"keep_last 2 on a number", field("amount", "keep_last", 2),
			`{"amount":"****.5","lines":[{"card":"4111111111111111","n":1},{"card":"5500005555555559","n":2}],"payer":{"iban":"DE89370400440532013000","name":"Ann"},"tags":["a","b","c"]}`},
		{"keep_last longer than value hides all", field("payer.name", "keep_last", 3),
			`{"amount":1234.5,"lines":[{"card":"4111111111111111","n":1},{"card":"5500005555555559","n":2}],"payer":{"iban":"DE89370400440532013000","name":"****"},"tags":["a","b","c"]}`},
		{"hash", field("/payer/iban", "hash", 0),
			`{"amount":1234.5,"lines":[{"card":"4111111111111111","n":1},{"card":"5500005555555559","n":2}],"payer":{"iban":"` + hashOf("DE89370400440532013000") + `","name":"Ann"},"tags":["a","b","c"]}`},
		{"drop member", field("/payer", "drop", 0),
			`{"amount":1234.5,"lines":[{"card":"4111111111111111","n":1},{"card":"5500005555555559","n":2}],"tags":["a","b","c"]}`},
		{"drop array element", field("/tags/1", "drop", 0),
			`{"amount":1234.5,"lines":[{"card":"4111111111111111","n":1},{"card":"5500005555555559","n":2}],"payer":{"iban":"DE89370400440532013000","name":"Ann"},"tags":["a","c"]}`},
		{"drop every element", field("tags[*]", "drop", 0),
			`{"amount":1234.5,"lines":[{"card":"4111111111111111","n":1},{"card":"5500005555555559","n":2}],"payer":{"iban":"DE89370400440532013000","name":"Ann"},"tags":[]}`},
		{"redact an object", field("lines[0]", "redact", 0),
			`{"amount":1234.5,"lines":["[REDACTED]",{"card":"5500005555555559","n":2}],"payer":{"iban":"DE89370400440532013000","name":"Ann"},"tags":["a","b","c"]}`},
		{"missing path is a no-op", field("/nope/deeper", "redact", 0),
			`{"amount":1234.5,"lines":[{"card":"4111111111111111","n":1},{"card":"5500005555555559","n":2}],"payer":{"iban":"DE89370400440532013000","name":"Ann"},"tags":["a","b","c"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, config.Masking{HashKeyEnv: "MASK_KEY", Policies: []config.MaskPolicy{tc.policy}})
			got := string(Append(nil, p.Apply("payment.received", decode(t, doc))))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestHashIsKeyedAndStable(t *testing.T) {
	m := config.Masking{HashKeyEnv: "MASK_KEY", Policies: []config.MaskPolicy{field("/e", "hash", 0)}}
	a := compile(t, m)
	other, err := Compile("masking", m, func(string) string { return "another-key-of-16-bytes" })
	if err != nil {
		t.Fatal(err)
	}
	h1, h2, h3 := string(a.appendHash(nil, "x@example.com")), string(a.appendHash(nil, "x@example.com")), string(other.appendHash(nil, "x@example.com"))
	if h1 != h2 {
		t.Errorf("same key, same value: %s != %s", h1, h2)
	}
	if h1 == h3 {
		t.Errorf("different keys gave the same token %s", h1)
	}
	if !strings.HasPrefix(h1, HashPrefix) || len(h1) != len(HashPrefix)+32 {
		t.Errorf("token %q: want %s + 32 hex digits", h1, HashPrefix)
	}
	mac := hmac.New(sha256.New, []byte(env("MASK_KEY")))
	mac.Write([]byte("x@example.com"))
	if want := HashPrefix + hex.EncodeToString(mac.Sum(nil)[:16]); h1 != want {
		t.Errorf("token %s, want HMAC-SHA256 truncated to 128 bits %s", h1, want)
	}
}

func TestDetectors(t *testing.T) {
	for _, tc := range []struct {
		name, det, in string
		want          []string
	}{
		{"iban compact", "iban", "pay to DE89370400440532013000 today", []string{"DE89370400440532013000"}},
		{"iban grouped", "iban", "IBAN: GB82 WEST 1234 5698 7654 32, thanks", []string{"GB82 WEST 1234 5698 7654 32"}},
		{"iban with glued reference", "iban", "DE89 3704 0044 0532 0130 00 REF7", []string{"DE89 3704 0044 0532 0130 00"}},
		{"iban bad checksum", "iban", "DE88370400440532013000", nil},
		{"iban inside a word", "iban", "XDE89370400440532013000", nil},
		{"card compact", "card", "card 4111111111111111 exp 12/29", []string{"4111111111111111"}},
		{"card grouped", "card", "4111-1111-1111-1111", []string{"4111-1111-1111-1111"}},
		{"card spaced then year", "card", "no 5500 0055 5555 5559 2029", []string{"5500 0055 5555 5559"}},
		{"card bad luhn", "card", "4111111111111112", nil},
		{"card too short", "card", "411111111111", nil},
		{"order number glued to letters", "card", "ORD4111111111111111", nil},
		{"email", "email", "mail ann.lee+erp@example.co.uk or bob@x.io.", []string{"ann.lee+erp@example.co.uk", "bob@x.io"}},
		{"not an email", "email", "user@localhost and @handle", nil},
		{"email with numeric tld part", "email", "a@b.c1 x@y.example.org2 z@host.de", []string{"x@y.example", "z@host.de"}},
		{"two at signs", "email", "a@@b.com, c@d@e.com", []string{"d@e.com"}},
		{"email at start and end", "email", "first@one.io second@two.co", []string{"first@one.io", "second@two.co"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, h := range detectors[tc.det].find(nil, tc.in) {
				got = append(got, tc.in[h[0]:h[1]])
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s(%q) = %q, want %q", tc.det, tc.in, got, tc.want)
			}
		})
	}
}

func TestIBANCheckMatchesBigIntForm(t *testing.T) {
	for _, s := range []string{"DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "DE88370400440532013000", "NL91ABNA0417164300", "NL91ABNA0417164301"} {
		if got, want := ibanValid(s), ibanValidBig(s); got != want {
			t.Errorf("%s: ibanValid %v, big-int form %v", s, got, want)
		}
	}
}

// ibanValidBig is ISO 13616 mod-97 done literally with big integers.
func ibanValidBig(s string) bool {
	r := s[4:] + s[:4]
	var digits strings.Builder
	for _, c := range r {
		if c >= 'A' && c <= 'Z' {
			digits.WriteString(big.NewInt(int64(c-'A') + 10).String())
		} else {
			digits.WriteRune(c)
		}
	}
	n, ok := new(big.Int).SetString(digits.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

func TestDetectorActions(t *testing.T) {
	text := "refund to DE89370400440532013000, card 4111 1111 1111 1111, mail ann@example.com"
	for _, tc := range []struct{ action, want string }{
		{"redact", "refund to [REDACTED], card [REDACTED], mail [REDACTED]"},
		{"last4", "refund to ****3000, card ****1111, mail ****.com"},
		{"hash", "refund to " + compile(t, config.Masking{HashKeyEnv: "MASK_KEY", Policies: []config.MaskPolicy{field("/x", "hash", 0)}}).value(action{kind: config.MaskHash}, "DE89370400440532013000") + ", card "},
	} {
		t.Run(tc.action, func(t *testing.T) {
			p := compile(t, config.Masking{HashKeyEnv: "MASK_KEY", Policies: []config.MaskPolicy{{
				Detectors: []string{"iban", "card", "email"}, DetectorAction: tc.action,
			}}})
			got := string(Append(nil, p.Apply("any", map[string]any{"note": text, "keep": "plain text 12"})))
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %s\nwant it to contain %s", got, tc.want)
			}
			if !strings.Contains(got, `"keep":"plain text 12"`) {
				t.Errorf("unrelated text changed: %s", got)
			}
			for _, secret := range []string{"DE89370400440532013000", "4111 1111 1111 1111", "ann@example.com"} {
				if strings.Contains(got, secret) {
					t.Errorf("%s still visible in %s", secret, got)
				}
			}
		})
	}
}

func TestDetectorsSkipMaskedFields(t *testing.T) {
	// A field rule's output is not scanned again: its hash token could
	// contain a digit run that looks like a card number.
	p := compile(t, config.Masking{HashKeyEnv: "MASK_KEY", Policies: []config.MaskPolicy{{
		Fields:    []config.MaskField{{Path: "/iban", Action: "last4"}},
		Detectors: []string{"iban"},
	}}})
	got := string(Append(nil, p.Apply("t", decode(t, `{"iban":"DE89370400440532013000"}`))))
	if got != `{"iban":"****3000"}` {
		t.Errorf("got %s", got)
	}
}

func TestPoliciesPerType(t *testing.T) {
	p := compile(t, config.Masking{Policies: []config.MaskPolicy{
		{Fields: []config.MaskField{{Path: "/email", Action: "redact"}}},
		{Types: []string{"payment.received"}, Fields: []config.MaskField{{Path: "/iban", Action: "drop"}}},
	}})
	doc := `{"email":"a@b.cd","iban":"DE89370400440532013000"}`
	if got := string(Append(nil, p.Apply("payment.received", decode(t, doc)))); got != `{"email":"[REDACTED]"}` {
		t.Errorf("payment.received: %s", got)
	}
	if got := string(Append(nil, p.Apply("order.created", decode(t, doc)))); got != `{"email":"[REDACTED]","iban":"DE89370400440532013000"}` {
		t.Errorf("order.created: %s", got)
	}
	empty := compile(t, config.Masking{Policies: []config.MaskPolicy{{Types: []string{"a"}, Fields: []config.MaskField{{Path: "/x", Action: "drop"}}}}})
	if empty.Active("b") || !empty.Active("a") {
		t.Errorf("Active: a=%v b=%v", empty.Active("a"), empty.Active("b"))
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    config.Masking
		env  func(string) string
		want string
	}{
		{"bad path", config.Masking{Policies: []config.MaskPolicy{field("a..b", "redact", 0)}}, env, "masking.policies[0].fields[0].path"},
		{"bad action", config.Masking{Policies: []config.MaskPolicy{field("a", "blur", 0)}}, env, "masking.policies[0].fields[0].action"},
		{"hash without key env", config.Masking{Policies: []config.MaskPolicy{field("a", "hash", 0)}}, env, "masking.hash_key_env: required"},
		{"hash key unset", config.Masking{HashKeyEnv: "NOPE", Policies: []config.MaskPolicy{field("a", "hash", 0)}}, env, "NOPE is not set"},
		{"hash key short", config.Masking{HashKeyEnv: "K", Policies: []config.MaskPolicy{field("a", "hash", 0)}}, func(string) string { return "short" }, "shorter than 16"},
		{"bad detector", config.Masking{Policies: []config.MaskPolicy{{Detectors: []string{"ssn"}}}}, env, "masking.policies[0].detectors[0]"},
		{"drop as detector action", config.Masking{Policies: []config.MaskPolicy{{Detectors: []string{"iban"}, DetectorAction: "drop"}}}, env, "detector_action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile("masking", tc.m, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`{"a":"x\"y\\z\n\t\u0001<>&","b":[1,2.5,-3e10,true,false,null],"c":{},"d":[],"é":"ü€😀"}`,
		`"\u2028"`, `[]`, `null`,
	} {
		v := decode(t, s)
		got := Append(nil, v)
		var back any
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%s: output %s is not JSON: %v", s, got, err)
		}
		var want any
		_ = json.Unmarshal([]byte(s), &want)
		if !reflect.DeepEqual(back, want) {
			t.Errorf("%s: round trip gave %s", s, got)
		}
	}
	if got := string(Append(nil, "bad\xffutf8")); got != `"bad\ufffdutf8"` {
		t.Errorf("invalid UTF-8: %s", got)
	}
}

// TestShortestDetectable: the shortest texts each detector finds are no
// shorter than the length below which strings are not scanned.
func TestShortestDetectable(t *testing.T) {
	for name, s := range map[string]string{"email": "a@b.cc", "card": "4111111111111", "iban": "GB82WEST1234569"} {
		if len(s) < shortestDetectable {
			t.Fatalf("%s example %q is shorter than %d", name, s, shortestDetectable)
		}
		if s[:len(s)-1] != "" && len(detectors[name].find(nil, s[1:])) > 0 && len(s)-1 < shortestDetectable {
			t.Fatalf("%s finds a text shorter than %d", name, shortestDetectable)
		}
	}
	if hits := findEmails(nil, "a@b.cc"); len(hits) != 1 {
		t.Fatalf("a@b.cc is the shortest email, found %v", hits)
	}
	for _, s := range []string{"a@b.c", "@b.cc", "ab.cc", "1@2.34"} {
		if hits := findEmails(nil, s); len(hits) != 0 && len(s) < shortestDetectable {
			t.Fatalf("%q (shorter than %d) is found as an email", s, shortestDetectable)
		}
	}
}
