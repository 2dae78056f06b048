package validate

import (
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

// TestTreeParserReadsTypicalEvents: the tree way is the one valid traffic
// takes; were the parser to refuse ordinary events, everything would go
// the slow way and only the benchmark would notice.
func TestTreeParserReadsTypicalEvents(t *testing.T) {
	events := []string{benchEvent, `{"a":"\u00fc\n\"q\"\\","b":[1,-0.5,2e10,true,false,null],"c":{}}`, `  [] `}
	for _, s := range shippedSamples() {
		events = append(events, s)
	}
	for _, e := range events {
		var tp treeParser
		if tp.parse([]byte(e)) == nil {
			t.Errorf("the tree parser refuses %s", e)
		}
	}
}

// TestTreeParserRefuses: payloads fastjson reads differently from
// encoding/json, or that encoding/json rejects, are left to Decode.
func TestTreeParserRefuses(t *testing.T) {
	for _, e := range []string{
		`{"a":"x` + "\x01" + `"}`, `{"a":"\q"}`, `{"a":"\u12"}`, `{"a":"\ud83d\ude00"}`, `{"a":"\uDC00"}`,
		"{\"a\":\"\xff\"}", `[01]`, `[1.]`, `[.5]`, `[-]`, `[+1]`, `[1e]`, `[NaN]`, `[inf]`,
		`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":"x`, `{"a":1} x`, ``, `{"k":` + strings.Repeat("[", 400) + strings.Repeat("]", 400) + `}`,
	} {
		var tp treeParser
		if tp.parse([]byte(e)) != nil {
			t.Errorf("the tree parser reads %q", e)
		}
	}
}

func TestJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "12": true, "1.5": true, "-1.5e-3": true, "1E+9": true, "0.0": true,
		"": false, "-": false, "01": false, "1.": false, ".1": false, "1e": false, "1e+": false, "+1": false, "1.2.3": false, "0x1": false,
	} {
		if got := numberLen([]byte(s)) == len(s) && s != ""; got != want {
			t.Errorf("numberLen(%q) = %d", s, numberLen([]byte(s)))
		}
	}
}

// FuzzPlainTokens: plainTokens decides like a byte-by-byte reading of
// the same rules.
func FuzzPlainTokens(f *testing.F) {
	f.Add([]byte(benchEvent))
	f.Add([]byte(`{"a":"\u00fc\n","b":"\ud800"}`))
	f.Add([]byte("\"abcdefgh\x01ijklmnop\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := plainTokens(b, nil), plainTokensSlow(b); got != want {
			t.Fatalf("plainTokens(%q) = %v, byte by byte %v", b, got, want)
		}
	})
}

// plainTokensSlow is the reference: byte by byte in strings, and a
// regular expression for the tokens between them.
func plainTokensSlow(b []byte) bool {
	in := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case !in && c == '"':
			in = true
		case !in:
			m := gapToken.Find(b[i:])
			if m == nil {
				return false
			}
			if rest := b[i+len(m):]; len(rest) > 0 && strings.IndexByte("0123456789.eE+-", rest[0]) >= 0 && strings.IndexByte("-0123456789", m[0]) >= 0 {
				return false
			}
			i += len(m) - 1
		case c == '"':
			in = false
		case c < 0x20:
			return false
		case c == '\\':
			n := escapeLen(b[i:])
			if n == 0 {
				return false
			}
			i += n - 1
		}
	}
	return !in
}

var gapToken = regexp.MustCompile(`^(?:[{}\[\],: \t\n\r]|true|false|null|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)`)

// FuzzRepeatedKey: the name tracker never passes a text whose tree
// repeats a name in some object, and, for texts without escapes and with
// objects of at most 64 members, refuses only those.
func FuzzRepeatedKey(f *testing.F) {
	f.Add(`{"ab":1,"ab":2}`)
	f.Add(`{"abc":1,"axc":2,"abc":3}`)
	f.Add(`{"":1,"a":2,"":3}`)
	f.Add(`{"abc":1,"axc":{"abc":1,"x":[{"y":1,"y":2}]}}`)
	f.Add(`{"a":{"b":1},"b":{"a":1}}`)
	f.Add(`{"a":1,"\u0061":2}`)
	f.Add(`[{"a":1},{"a":2}] `)
	f.Add(`{"a" : {"a":[]} , "b":"a:"}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var tp treeParser
		v, err := tp.p.Parse(raw)
		if err != nil || !plainTokens([]byte(raw), nil) {
			return // the stage decodes such texts the encoding/json way
		}
		var names nameTracker
		passed := plainTokens([]byte(raw), &names)
		repeated, large := repeatsName(v), hasLargeObject(v)
		if passed && (repeated || large) {
			t.Fatalf("%s: a repeated name or an object of more than 64 members passes", raw)
		}
		if !passed && !repeated && !large && !strings.Contains(raw, `\`) {
			t.Fatalf("%s: refused without a repeated name", raw)
		}
	})
}

func hasLargeObject(v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		large := o.Len() > 64
		o.Visit(func(_ []byte, c *fastjson.Value) { large = large || hasLargeObject(c) })
		return large
	case fastjson.TypeArray:
		for _, c := range v.GetArray() {
			if hasLargeObject(c) {
				return true
			}
		}
	}
	return false
}

func repeatsName(v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		names, repeated := map[string]bool{}, false
		o.Visit(func(k []byte, c *fastjson.Value) {
			repeated = repeated || names[string(k)] || repeatsName(c)
			names[string(k)] = true
		})
		return repeated
	case fastjson.TypeArray:
		for _, c := range v.GetArray() {
			if repeatsName(c) {
				return true
			}
		}
	}
	return false
}
