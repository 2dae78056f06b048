package validate

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// openEvent is an event of the type open.event, whose schema takes any
// object: these tests are about the reader and the identity rule.
const openEvent = `{"id":"E-1","payer":{"name":"Acme GmbH"},"refs":["INV-7"]}`

func openPartner() config.Partner {
	return config.Partner{Name: "bank-a", PartnerChecks: config.PartnerChecks{AllowedTypes: []string{"open.event"}, MaxMessageBytes: 1 << 20}}
}

func openStage(t testing.TB, cfg *config.Config) *Stage {
	t.Helper()
	reg, err := LoadFS(fstest.MapFS{"open.event.v1.json": {Data: []byte(`{"type":"object","properties":{"payer":{"type":"object"}}}`)}}, ".")
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStage(cfg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// withPayer puts extra members into openEvent's payer object, where
// the schema allows any.
func withPayer(extra string) string {
	return strings.Replace(openEvent, `"payer":{`, `"payer":{`+extra+`,`, 1)
}

// TestIntakeLimits: each limit, set per partner, the global one, and the
// built-in default, takes an event at the limit and dead-letters one over
// it as too_large, with a detail that says what and where.
func TestIntakeLimits(t *testing.T) {
	nested := func(n int) string { return `"x":` + strings.Repeat("[", n-2) + strings.Repeat("]", n-2) } // payload root and payer count
	str := func(n int) string { return `"note":"` + strings.Repeat("s", n) + `"` }
	num := func(n int) string { return `"n":` + strings.Repeat("7", n) }
	name := func(n int) string { return `"` + strings.Repeat("k", n) + `":1` }
	type shape struct {
		name   string
		doc    func(int) string
		set    func(*config.Limits, int)
		detail func(int) string
		def    int
	}
	shapes := []shape{
		{"depth", nested, func(l *config.Limits, n int) { l.MaxDepth = n }, func(n int) string { return "nesting deeper than " + itoa(n) + " at byte " }, 64},
		{"string", str, func(l *config.Limits, n int) { l.MaxStringBytes = n }, func(n int) string { return "string longer than " + itoa(n) + " bytes at byte " }, 65536},
		{"number", num, func(l *config.Limits, n int) { l.MaxNumberBytes = n }, func(n int) string { return "number longer than " + itoa(n) + " bytes at byte " }, 100},
		{"name", name, func(l *config.Limits, n int) { l.MaxNameBytes = n }, func(n int) string { return "member name longer than " + itoa(n) + " bytes at byte " }, 256},
	}
	for _, sh := range shapes {
		for _, where := range []string{"partner", "global", "default"} {
			t.Run(sh.name+"/"+where, func(t *testing.T) {
				p := openPartner()
				p.MaxMessageBytes = 1 << 20
				cfg := testConfig(p)
				limit := sh.def
				switch where {
				case "partner":
					limit = 10
					sh.set(&cfg.Partners[0].Limits, limit)
					sh.set(&cfg.Limits, 1000) // the partner's own wins
				case "global":
					limit = 12
					sh.set(&cfg.Limits, limit)
				}
				st := openStage(t, cfg)
				at := envelope("bank-a", "open.event", withPayer(sh.doc(limit)))
				if err := st.Process(context.Background(), at); err != nil {
					t.Fatalf("at the limit (%d): %v", limit, err)
				}
				over := envelope("bank-a", "open.event", withPayer(sh.doc(limit+1)))
				r, ok := bridge.AsRejection(st.Process(context.Background(), over))
				if !ok || r.Reason != bridge.ReasonTooLarge || !strings.Contains(r.Detail, sh.detail(limit)) || !strings.Contains(r.Detail, " in /payer") {
					t.Fatalf("one over: %v, want too_large with %q in /payer", r, sh.detail(limit))
				}
			})
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestHostileInputIsMalformed: invalid UTF-8 and lone surrogate escapes,
// in values and in names, are malformed, never altered and passed on; the
// detail says where, without the bytes.
func TestHostileInputIsMalformed(t *testing.T) {
	st := openStage(t, testConfig(openPartner()))
	name := func(v string) string { return strings.Replace(openEvent, `"Acme GmbH"`, v, 1) }
	at := func(payload, marker, where string) string {
		return " at byte " + itoa(strings.Index(payload, marker)) + " in " + where
	}
	for _, c := range []struct{ name, payload, marker, where, what string }{
		{"invalid UTF-8 in a value", name("\"Acme \xff\xfe GmbH\""), "\xff", "/payer/name", "invalid UTF-8"},
		{"truncated UTF-8 in a value", name("\"Acme \xc3\""), "\xc3", "/payer/name", "invalid UTF-8"},
		{"invalid UTF-8 in a name", withPayer("\"n\xffx\":1"), "\xff", "/payer", "invalid UTF-8"},
		{"lone high surrogate", name(`"Acme \ud800 GmbH"`), `\ud800`, "/payer/name", "lone UTF-16 surrogate escape"},
		{"lone low surrogate", name(`"\udc00"`), `\udc00`, "/payer/name", "lone UTF-16 surrogate escape"},
		{"reversed pair", name(`"\ude00\ud83d"`), `\ude00`, "/payer/name", "lone UTF-16 surrogate escape"},
		{"high surrogate at the end", name(`"Acme\ud83d"`), `\ud83d`, "/payer/name", "lone UTF-16 surrogate escape"},
		{"high surrogate before another escape", name(`"\ud83d\n"`), `\ud83d`, "/payer/name", "lone UTF-16 surrogate escape"},
		{"lone surrogate in a name", withPayer(`"\ud800":1`), `\ud800`, "/payer", "lone UTF-16 surrogate escape"},
		{"repeated name", withPayer(`"name":"Other"`), `"name":"Acme`, "/payer/name", "member name repeated"},
	} {
		c.what += at(c.payload, c.marker, c.where)
		t.Run(c.name, func(t *testing.T) {
			env := envelope("bank-a", "open.event", c.payload)
			r, ok := bridge.AsRejection(st.Process(context.Background(), env))
			if !ok || r.Reason != bridge.ReasonMalformed || !strings.HasSuffix(r.Detail, c.what) {
				t.Fatalf("got %v, want malformed ending %q", r, c.what)
			}
			if string(env.Payload) != c.payload {
				t.Fatal("the payload was altered")
			}
			if strings.Contains(r.Detail, "Acme") || strings.ContainsAny(r.Detail, "\xff\xfe\xc3") {
				t.Fatalf("the detail quotes the payload: %q", r.Detail)
			}
		})
	}
	// A surrogate pair is a character, read and passed on as written.
	pair := strings.Replace(openEvent, `"Acme GmbH"`, `"Acme \ud83d\ude00"`, 1)
	if err := st.Process(context.Background(), envelope("bank-a", "open.event", pair)); err != nil {
		t.Fatalf("a surrogate pair is refused: %v", err)
	}
}

// TestIdentityRule: the rule's settings and its default.
func TestIdentityRule(t *testing.T) {
	event := func(sender string) string {
		return withPayer(`"partner":` + sender)
	}
	rule := func(field string, values ...string) config.Identity {
		return config.Identity{Field: field, Values: values}
	}
	for _, c := range []struct {
		name     string
		identity config.Identity
		payload  string
		detail   string // "" = accepted
	}{
		{"default: not checked", config.Identity{}, event(`"someone-else"`), ""},
		{"none: not checked", config.Identity{None: true}, event(`"someone-else"`), ""},
		{"listed code", rule("/payer/partner", "P-0036", "acme"), event(`"P-0036"`), ""},
		{"second listed value", rule("/payer/partner", "P-0036", "acme"), event(`"acme"`), ""},
		{"values default to the partner's name", rule("/payer/partner"), event(`"bank-a"`), ""},
		{"escaped spelling of a listed value", rule("/payer/partner", "P-0036"), event(`"P-\u0030036"`), ""},
		{"unlisted value", rule("/payer/partner", "P-0036"), event(`"P-0037"`), "payload field /payer/partner names another sender than bank-a"},
		{"case matters", rule("/payer/partner", "acme"), event(`"ACME"`), "names another sender"},
		{"not a string", rule("/payer/partner", "P-0036"), event(`36`), "payload field /payer/partner is not a string"},
		{"field missing: no claim", rule("/payer/sender", "P-0036"), event(`"P-0036"`), ""},
		{"field missing, required", config.Identity{Field: "/payer/sender", Values: []string{"P-0036"}, Required: true}, event(`"P-0036"`), "payload has no /payer/sender"},
		{"field present, required", config.Identity{Field: "/payer/partner", Values: []string{"P-0036"}, Required: true}, event(`"P-0036"`), ""},
		{"pointer through an array", rule("/refs/0", "INV-7"), openEvent, ""},
		{"index out of range", config.Identity{Field: "/refs/1", Values: []string{"INV-7"}, Required: true}, openEvent, "payload has no /refs/1"},
		{"escaped pointer token", rule("/payer/a~1b", "x"), withPayer(`"a/b":"x"`), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := openPartner()
			p.Identity = c.identity
			if p.Identity.Enabled() && len(p.Identity.Values) == 0 {
				p.Identity.Values = []string{p.Name} // as config.Parse defaults it
			}
			st := openStage(t, testConfig(p))
			err := st.Process(context.Background(), envelope("bank-a", "open.event", c.payload))
			if c.detail == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			r, ok := bridge.AsRejection(err)
			if !ok || r.Reason != bridge.ReasonPartnerMismatch || !strings.Contains(r.Detail, c.detail) {
				t.Fatalf("got %v, want partner_mismatch with %q", err, c.detail)
			}
			if strings.Contains(r.Detail, "P-0037") || strings.Contains(r.Detail, "ACME") {
				t.Fatalf("the detail quotes the claimed sender: %q", r.Detail)
			}
		})
	}
}

// TestIdentityRuleWithoutSchemas: a partner that is not validated still
// has its rule checked, on the same bounded read, and its events are then
// JSON under the limits.
func TestIdentityRuleWithoutSchemas(t *testing.T) {
	p := config.Partner{Name: "open", PartnerChecks: config.PartnerChecks{Identity: config.Identity{Field: "/partner", Values: []string{"P-1"}}}}
	st := openStage(t, testConfig(p))
	for payload, want := range map[string]string{
		`{"partner":"P-1","anything":[1,2]}`: "",
		`{"partner":"P-2"}`:                  bridge.ReasonPartnerMismatch,
		`not json`:                           bridge.ReasonMalformed,
		`{"partner":"P-1","x":` + strings.Repeat("[", 65) + `}`: bridge.ReasonTooLarge,
	} {
		err := st.Process(context.Background(), envelope("open", "", payload))
		if got := reasonOf(err); (want == "" && err != nil) || (want != "" && got != want) {
			t.Errorf("%.40s: %v, want %q", payload, err, want)
		}
	}
}
