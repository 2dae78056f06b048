package validate

import (
	"regexp"
	"strings"
	"testing"
)

// schemaPatterns are the patterns of the shipped schemas; every one must
// get the fast matcher, or the benchmark would quietly lose it.
func schemaPatterns(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, s := range registry(t).byName {
		var walk func(n *fastNode, seen map[*fastNode]bool)
		walk = func(n *fastNode, seen map[*fastNode]bool) {
			if n == nil || seen[n] {
				return
			}
			seen[n] = true
			if n.pattern != nil {
				out = append(out, n.pattern.String())
			}
			for _, c := range n.props {
				walk(c, seen)
			}
			walk(n.items, seen)
			walk(n.ref, seen)
			for _, c := range append(append(n.allOf, n.anyOf...), n.prefixItems...) {
				walk(c, seen)
			}
		}
		walk(s.fast, map[*fastNode]bool{})
	}
	return out
}

func TestShippedPatternsHaveDFA(t *testing.T) {
	pats := schemaPatterns(t)
	if len(pats) < 5 {
		t.Fatalf("found only %d patterns in the shipped schemas", len(pats))
	}
	for _, p := range pats {
		if compileDFA(regexp.MustCompile(p)) == nil {
			t.Errorf("%s has no automaton", p)
		}
	}
}

func TestPatternDFA(t *testing.T) {
	tests := []struct {
		pattern string
		yes, no []string
	}{
		{`^[A-Z]{3}$`, []string{"EUR"}, []string{"EU", "EURO", "eur", ""}},
		{`^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`, []string{"DE89370400440532013000"}, []string{"DE8937040044", "de89370400440532013000", "DE89 370400440532013000"}},
		{`^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$`, []string{"DEUTDEFF", "DEUTDEFF500"}, []string{"DEUTDEFF5", "DEUTDEFF50", "DEUTDEFF5000"}},
		{`^(0[1-9]|1[0-2])/[0-9]{2}$`, []string{"01/29", "12/30"}, []string{"13/29", "00/29", "1/29"}},
		{`^\+?[0-9 ()-]{6,20}$`, []string{"+49 30 1234567", "(030) 123-456"}, []string{"+49", "++49 30 1234567", "49x301234567"}},
		{`^a*b+$`, []string{"b", "aab", "abbb"}, []string{"", "a", "ba"}},
		{`^(ab|a)(bc)?c$`, []string{"abc", "abcc", "ac"}, []string{"ab", "abbc"}},
		{`^(a|)*x$`, []string{"x", "aax"}, []string{"a"}},
		{`^$`, []string{""}, []string{"a"}},
	}
	for _, tc := range tests {
		d := compileDFA(regexp.MustCompile(tc.pattern))
		if d == nil {
			t.Fatalf("%s: no automaton", tc.pattern)
		}
		for _, s := range tc.yes {
			if m, ok := d.match([]byte(s)); !ok || !m {
				t.Errorf("%s does not match %q", tc.pattern, s)
			}
		}
		for _, s := range tc.no {
			if m, ok := d.match([]byte(s)); !ok || m {
				t.Errorf("%s matches %q", tc.pattern, s)
			}
		}
	}
	for _, p := range []string{`[A-Z]{3}`, `^[A-Z]{3}`, `^a.b$`, `^(?i)abc$`, `^[^a]$`, `^é$`, `^\bab$`, `^a$|^b$`} {
		if compileDFA(regexp.MustCompile(p)) != nil {
			t.Errorf("%s: compiled, must be left to regexp", p)
		}
	}
	if m, ok := compileDFA(regexp.MustCompile(`^a*$`)).match([]byte(strings.Repeat("a", 500))); !ok || !m {
		t.Error("a long ASCII string must be matched by the automaton")
	}
	if compileDFA(regexp.MustCompile(`^(a|b)*a(a|b){12}$`)) != nil {
		t.Error("a pattern of 2^13 states must be left to regexp")
	}
	for _, p := range []string{`^[^\x00-\x{10FFFF}]$`, `^a[^\x00-\x{10FFFF}]$`} {
		d := compileDFA(regexp.MustCompile(p))
		if d == nil {
			t.Fatalf("%s: no automaton", p)
		}
		for _, s := range []string{"", "a", "ab"} {
			if m, ok := d.match([]byte(s)); !ok || m {
				t.Errorf("%s on %q: %v, %v; an empty class matches nothing", p, s, m, ok)
			}
		}
	}
	if _, ok := compileDFA(regexp.MustCompile(`^a*$`)).match([]byte("aé")); ok {
		t.Error("a non-ASCII string must be left to regexp")
	}
}

// FuzzPatternDFAMatchesRegexp: wherever the automaton answers, it
// answers like regexp.
func FuzzPatternDFAMatchesRegexp(f *testing.F) {
	for _, p := range schemaPatterns(f) {
		f.Add(p, "DE89370400440532013000")
		f.Add(p, "12/29")
	}
	f.Add(`^(a|ab)*(c|bcd)?d{2,3}$`, "ababcddd")
	f.Add(`^[a-c]{0,2}(x|y{1,})+$`, "acyyx")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		d := compileDFA(re)
		if d == nil {
			return
		}
		if m, ok := d.match([]byte(s)); ok && m != re.MatchString(s) {
			t.Fatalf("%s on %q: automaton %v, regexp %v", pattern, s, m, !m)
		}
	})
}
