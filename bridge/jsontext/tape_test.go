package jsontext

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// TestTapeReaderRefuses: payloads encoding/json rejects, or that it reads
// in a way the tape does not show (repeated or escaped names, surrogate
// escapes), are left to Decode.
func TestTapeReaderRefuses(t *testing.T) {
	for _, e := range []string{
		`{"a":"x` + "\x01" + `"}`, `{"a":"\q"}`, `{"a":"\u12"}`, `{"a":"\ud83d\ude00"}`, `{"a":"\uDC00"}`,
		"{\"a\":\"\xff\"}", `[01]`, `[1.]`, `[.5]`, `[-]`, `[+1]`, `[1e]`, `[NaN]`, `[inf]`,
		`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":"x`, `{"a":1} x`, ``, `{"k":` + strings.Repeat("[", 400) + strings.Repeat("]", 400) + `}`,
		`[1 2]`, `{"a" 1}`, `{"a":1 "b":2}`, `[,1]`, `[1,]`, `{,}`, `{"a":}`, `{"a":1,}`, `[[]]]`, `[[[]]`, `tru`, `{1:2}`, `"a"x`,
	} {
		var r TapeReader
		if r.Read([]byte(e)) != nil {
			t.Errorf("the tape reader reads %q", e)
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

// FuzzTapeReaderRefusesOnlyWhatItMust: the reader takes every document
// of plain tokens (plainTokensSlow) that encoding/json reads, that has no
// backslash at all (an escaped name is left to encoding/json), no name
// repeated within an object, no object of more than 64 members and at
// most maxTapeDepth levels; and it never takes one with a repeated name
// or a large object. With FuzzTapeMatchesDecode this pins the fast way
// down from both sides.
func FuzzTapeReaderRefusesOnlyWhatItMust(f *testing.F) {
	f.Add([]byte(`{"payment_id":"PAY-1","amount":1250.5,"payer":{"name":"Acme GmbH","iban":"DE89370400440532013000"},"refs":["INV-7",null,true,-0.5e-3]}`))
	f.Add([]byte(`{"a":"\u00fc\n","b":"\ud800"}`))
	f.Add([]byte("\"abcdefgh\x01ijklmnop\""))
	f.Add([]byte(`{"ab":1,"ab":2}`))
	f.Add([]byte(`{"abc":1,"axc":{"abc":1,"x":[{"y":1,"y":2}]}}`))
	f.Add([]byte(`[{"a":1},{"a":2}] `))
	f.Add([]byte(`{"a" : {"a":[]} , "b":"a:"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r TapeReader
		read := r.Read(b) != nil
		tree, err := fastjson.ParseBytes(b)
		if err != nil || !json.Valid(b) || !utf8.Valid(b) || !plainTokensSlow(b) {
			if read {
				t.Fatalf("%q: read, but it is not plain JSON", b)
			}
			return
		}
		repeated, large, depth := shape(tree)
		deep := depth > maxTapeDepth
		if read && (repeated || large || deep) {
			t.Fatalf("%q: read with a repeated name, a large object or too deep", b)
		}
		if !read && !repeated && !large && !deep && !bytes.Contains(b, []byte(`\`)) {
			t.Fatalf("%q: refused", b)
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

// shape walks a document fastjson read: whether an object repeats a
// name, whether one has more than 64 members, and how deep it nests.
func shape(v *fastjson.Value) (repeated, large bool, depth int) {
	var children []*fastjson.Value
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		names := map[string]bool{}
		large = o.Len() > 64
		o.Visit(func(k []byte, c *fastjson.Value) {
			repeated = repeated || names[string(k)]
			names[string(k)] = true
			children = append(children, c)
		})
	case fastjson.TypeArray:
		children = v.GetArray()
	default:
		return false, false, 0
	}
	for _, c := range children {
		r, l, d := shape(c)
		repeated, large, depth = repeated || r, large || l, max(depth, d)
	}
	return repeated, large, depth + 1
}
