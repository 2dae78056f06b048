package dlq

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDisplayMaskerRules(t *testing.T) {
	m := Display{}
	cases := []struct {
		name, in string
		hidden   []string
		kept     []string
	}{
		{"sensitive keys at any depth", `{"a":{"IBAN":"X1","cardNumber":"X2","contact":{"email":"X3","Phone":["X4","X5"]}},"tax_id":7}`,
			[]string{"X1", "X2", "X3", "X4", "X5", "7"}, []string{`"a"`}},
		{"detectors in free text", `{"note":"pay DE89 3704 0044 0532 0130 00, card 4111-1111-1111-1111, ada@example.com, +44 20 7946 0958"}`,
			[]string{"DE89", "4111", "ada@", "7946"}, []string{"pay", "card"}},
		{"ordinary values stay", `{"amount":12.5,"date":"2026-11-23","order":"ORD-00017","qty":3}`,
			nil, []string{"12.5", "2026-11-23", "ORD-00017", "3"}},
		{"null under a sensitive key", `{"iban":null}`, nil, []string{"null"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := m.Payload("p", "t", []byte(tc.in), false)
			if !ok {
				t.Fatal("JSON payload not shown")
			}
			for _, h := range tc.hidden {
				if strings.Contains(out, h) {
					t.Errorf("%q visible in %s", h, out)
				}
			}
			for _, k := range tc.kept {
				if !strings.Contains(out, k) {
					t.Errorf("%q lost in %s", k, out)
				}
			}
		})
	}
	if _, ok := m.Payload("p", "t", []byte("4111 1111 1111 1111"), false); ok {
		t.Error("a payload that is not JSON must be hidden unless revealed")
	}
	if out, ok := m.Payload("p", "t", []byte("raw"), true); !ok || out != "raw" {
		t.Errorf("--reveal of a non-JSON payload: %q %v", out, ok)
	}
	h := m.Headers(map[string]string{"Authorization": "Bearer abc", "X-Trace": "call +49 30 1234567"}, false)
	if h[0][1] != Redacted || strings.Contains(h[1][1], "1234567") {
		t.Errorf("headers not masked: %v", h)
	}
}

// FuzzDisplayMask: any JSON payload gives valid JSON, and whatever sits
// under a sensitive key never survives masking.
func FuzzDisplayMask(f *testing.F) {
	f.Add(`{"x":1}`, "DE89370400440532013000")
	f.Add(`[1,"a",{"b":null}]`, "ada@example.com")
	f.Add(`"plain"`, "")
	f.Add(`{"note":"4111 1111 1111 1111"}`, `{"nested":"secret"}`)
	f.Fuzz(func(t *testing.T, doc, secret string) {
		var base any
		if json.Unmarshal([]byte(doc), &base) != nil {
			return
		}
		wrapped, err := json.Marshal(map[string]any{"doc": base, "password": secret})
		if err != nil {
			return
		}
		out, ok := Display{}.Payload("p", "t", wrapped, false)
		if !ok {
			t.Fatalf("valid JSON not shown: %s", wrapped)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("masked output is not JSON: %v\n%s", err, out)
		}
		if got["password"] != Redacted {
			t.Fatalf("password value %q survived: %v", secret, got["password"])
		}
	})
}

// TestDisplayRules: the two rules bridge/mask has no detector for — field
// names that mark personal or secret data, and international phone
// numbers in free text.
func TestDisplayRules(t *testing.T) {
	keys := []struct {
		key       string
		sensitive bool
	}{
		{"IBAN", true}, {"payerIban", true}, {"cardNumber", true}, {"pan", true}, {"cvv", true},
		{"e-mail", true}, {"Mobile", true}, {"vat_id", true}, {"date_of_birth", true},
		{"X-Api-Key", true}, {"api_key", true}, {"Authorization", true}, {"client_secret", true},
		{"amount", false}, {"order", false}, {"company", false}, {"spanner", false}, {"shipment", false},
	}
	for _, tc := range keys {
		if got := sensitiveKey.MatchString(tc.key); got != tc.sensitive {
			t.Errorf("sensitive(%q) = %v, want %v", tc.key, got, tc.sensitive)
		}
	}
	texts := []struct{ in, want string }{
		{"call +49 30 1234567 now", "call " + Redacted + " now"},
		{"+44 20 7946-0958", Redacted},
		{"+1.555.010.9999", Redacted},
		{"order 2026-11-23 qty 1234567", "order 2026-11-23 qty 1234567"}, // no +: a date, an amount
		{"+12345", "+12345"},                                             // too short for a phone number
		{"", ""},
	}
	for _, tc := range texts {
		if got := MaskText(tc.in); got != tc.want {
			t.Errorf("MaskText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
