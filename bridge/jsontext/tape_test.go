package jsontext

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

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

// TestTapeReaderRejects: what is wrong, where, and whether it is a limit.
func TestTapeReaderRejects(t *testing.T) {
	deep := func(n int, open, close string) string { return strings.Repeat(open, n) + strings.Repeat(close, n) }
	for _, c := range []struct {
		in, msg, path string
		at            int
		limit         bool
	}{
		{`{"a":"x` + "\x01" + `"}`, "control character in string", "/a", 7, false},
		{`{"a":"\q"}`, "invalid escape", "/a", 6, false},
		{`{"a":"\u12"}`, `invalid \u escape`, "/a", 6, false},
		{`{"a":"\ud800"}`, "lone UTF-16 surrogate escape", "/a", 6, false},
		{`{"a":"\uDC00"}`, "lone UTF-16 surrogate escape", "/a", 6, false},
		{`{"a":"\udc00\ud800"}`, "lone UTF-16 surrogate escape", "/a", 6, false},
		{`{"a":"\ud800x"}`, "lone UTF-16 surrogate escape", "/a", 6, false},
		{`{"a":"\ud800\u0041"}`, "lone UTF-16 surrogate escape", "/a", 6, false},
		{`{"\ud800":1}`, "lone UTF-16 surrogate escape", "/", 2, false},
		{"{\"a\":[\"ok\",\"x\xffy\"]}", "invalid UTF-8", "/a/1", 13, false},
		{"{\"n\xc3\":1}", "invalid UTF-8", "/", 3, false},
		{"[1,\xff]", "invalid UTF-8", "/1", 3, false},
		{`[01]`, "invalid value", "/0", 1, false},
		{`[1.]`, "invalid value", "/0", 1, false},
		{`[-]`, "invalid value", "/0", 1, false},
		{`[NaN]`, "invalid value", "/0", 1, false},
		{`{"a":1,"a":2}`, "member name repeated", "/a", 7, false},
		{`{"a":1,"\u0061":2}`, "member name repeated", "/(member 2)", 7, false},
		{`{"a":"x`, "unterminated string", "/a", 5, false},
		{`{"a":1} x`, "data after the JSON value", "/", 8, false},
		{``, "unexpected end of text", "/", 0, false},
		{`[1 2]`, "expected , or ]", "/0", 3, false},
		{`{"a" 1}`, "expected :", "/a", 5, false},
		{`[,1]`, "invalid value", "/0", 1, false},
		{`{"a":1,}`, "expected a member name", "/", 7, false},
		{`{1:2}`, "expected a member name", "/", 1, false},
		{`{"k":` + deep(64, "[", "]") + `}`, "nesting deeper than 64", "/k/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0", 68, true},
		{`[` + strings.Repeat(`{"a":`, 64), "nesting deeper than 64", "/0" + strings.Repeat("/a", 63), 1 + 5*63, true},
		{`{"s":"` + strings.Repeat("x", DefaultMaxStringBytes+1) + `"}`, "string longer than 65536 bytes", "/s", 5, true},
		{`[` + strings.Repeat("1", DefaultMaxNumberBytes+1) + `]`, "number longer than 100 bytes", "/0", 1, true},
		{`{"` + strings.Repeat("n", DefaultMaxNameBytes+1) + `":1}`, "member name longer than 256 bytes", "/", 1, true},
	} {
		var r TapeReader
		tp, err := r.Read([]byte(c.in))
		var e *Error
		if tp != nil || !errors.As(err, &e) {
			t.Errorf("%.40q: read (%v)", c.in, err)
			continue
		}
		if e.Msg != c.msg || e.Path != c.path || e.Offset != c.at || e.Limit != c.limit {
			t.Errorf("%.40q: got %q at %d in %q (limit %v), want %q at %d in %q (limit %v)", c.in, e.Msg, e.Offset, e.Path, e.Limit, c.msg, c.at, c.path, c.limit)
		}
	}
}

// TestLimitsAtAndOver: each limit, explicit or default, takes a value at
// the limit and refuses one a byte (or a level) over it.
func TestLimitsAtAndOver(t *testing.T) {
	nest := func(n int) string { return strings.Repeat(`{"a":`, n-1) + "[]" + strings.Repeat("}", n-1) }
	str := func(n int) string { return `{"s":"` + strings.Repeat("é", n/2) + strings.Repeat("x", n%2) + `"}` }
	num := func(n int) string { return `{"n":-` + strings.Repeat("1", n-1) + `}` }
	name := func(n int) string { return `{"` + strings.Repeat("k", n) + `":1}` }
	for _, c := range []struct {
		name   string
		limits Limits
		limit  int
		doc    func(int) string
		msg    string
	}{
		{"depth", Limits{MaxDepth: 5}, 5, nest, "nesting deeper than 5"},
		{"default depth", Limits{}, DefaultMaxDepth, nest, "nesting deeper than 64"},
		{"string", Limits{MaxStringBytes: 11}, 11, str, "string longer than 11 bytes"},
		{"default string", Limits{}, DefaultMaxStringBytes, str, "string longer than 65536 bytes"},
		{"number", Limits{MaxNumberBytes: 3}, 3, num, "number longer than 3 bytes"},
		{"default number", Limits{}, DefaultMaxNumberBytes, num, "number longer than 100 bytes"},
		{"name", Limits{MaxNameBytes: 4}, 4, name, "member name longer than 4 bytes"},
		{"default name", Limits{}, DefaultMaxNameBytes, name, "member name longer than 256 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := TapeReader{Limits: c.limits}
			if _, err := r.Read([]byte(c.doc(c.limit))); err != nil {
				t.Fatalf("at the limit: %v", err)
			}
			_, err := r.Read([]byte(c.doc(c.limit + 1)))
			var e *Error
			if !errors.As(err, &e) || !e.Limit || e.Msg != c.msg {
				t.Fatalf("one over: %v, want %q", err, c.msg)
			}
		})
	}
}

// TestTapeReadsWhatStdlibReads: escapes, pairs, escaped names and large
// objects read to the document encoding/json gives.
func TestTapeReadsWhatStdlibReads(t *testing.T) {
	many := `{` + strings.Repeat(`"k":0,`, 0)
	for i := range 300 {
		many += `"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":` + "1,"
	}
	many = many[:len(many)-1] + "}"
	for _, in := range []string{
		`{"a":"\u00fc\n","b":"\ud83d\ude00","\u0063":[1,-0.5e-3,true,false,null]}`,
		`"\uD834\uDD1E"`, `  [ ]  `, `{}`, many,
	} {
		checkAgainstStdlib(t, []byte(in), true)
	}
}

// TestRepeatedNamesInLargeObjects: an object past 64 members finds a
// repeated name wherever it is, escaped or not, and names its position;
// nested large objects keep their names apart.
func TestRepeatedNamesInLargeObjects(t *testing.T) {
	members := func(n int) []string {
		m := make([]string, n)
		for i := range m {
			m[i] = `"m` + strings.Repeat("x", i%5) + strconv.Itoa(i) + `":` + strconv.Itoa(i)
		}
		return m
	}
	obj := func(m []string) string { return "{" + strings.Join(m, ",") + "}" }
	for _, n := range []int{65, 66, 200, 5000} {
		m := members(n)
		for _, c := range []struct {
			name string
			doc  string
			ok   bool
		}{
			{"unique", obj(m), true},
			{"first repeated last", obj(append(m[:n:n], `"m0":1`)), false},
			{"last repeated first", obj(append([]string{strings.SplitN(m[n-1], ":", 2)[0] + ":1"}, m...)), false},
			{"middle repeated, escaped", obj(append(m[:n:n], `"\u006d`+strings.TrimPrefix(strings.SplitN(m[n/2], ":", 2)[0], `"m`)+`:1`)), false},
			{"the same names in a nested object", obj(append(m[:n:n], `"inner":`+obj(m))), true},
			{"repeated in the nested object", obj(append(m[:n:n], `"inner":`+obj(append(m[:n:n], `"m0":0`)))), false},
		} {
			var r TapeReader
			_, err := r.Read([]byte(c.doc))
			var e *Error
			switch {
			case c.ok && err != nil:
				t.Errorf("%d members, %s: %v", n, c.name, err)
			case !c.ok && (!errors.As(err, &e) || e.Msg != "member name repeated"):
				t.Errorf("%d members, %s: %v, want a repeated name", n, c.name, err)
			case !c.ok && c.doc[e.Offset] != '"':
				t.Errorf("%d members, %s: error at byte %d, which is not a name", n, c.name, e.Offset)
			}
		}
	}
}

// checkAgainstStdlib: what the reader (with limits no test text
// reaches) takes is what encoding/json reads, to the same document; what
// it refuses, encoding/json refuses too, or the text breaks one of the
// reader's stricter rules.
func checkAgainstStdlib(t *testing.T, b []byte, mustRead bool) {
	t.Helper()
	r := TapeReader{Limits: Limits{MaxDepth: 1 << 20, MaxStringBytes: 1 << 30, MaxNumberBytes: 1 << 30, MaxNameBytes: 1 << 30}}
	tp, err := r.Read(b)
	want, stdErr := stdlibDecode(b)
	strictOK := stdErr == nil && utf8.Valid(b) && !loneSurrogateSlow(b) && !repeatedNameSlow(b)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || !detailPattern.MatchString(e.Error()) {
			t.Fatalf("%q: error %q is not a plain detail", b, err)
		}
		if strictOK || mustRead {
			t.Fatalf("%q: refused (%v), but it is strict JSON", b, err)
		}
		return
	}
	if !strictOK {
		t.Fatalf("%q: read, but encoding/json says %v (or it breaks a strict rule)", b, stdErr)
	}
	if got := tp.Value(0); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: tape %#v, encoding/json %#v", b, got, want)
	}
	if n := tokenBound(b); len(tp.toks) > n {
		t.Fatalf("%q: %d tokens, over the bound %d the tape is sized to", b, len(tp.toks), n)
	}
}

// TestTokenBound: the bound the tape is sized to holds every token, and
// for dense shapes it is close, so sizing up front does not reserve much
// more than the tape uses.
func TestTokenBound(t *testing.T) {
	for _, tc := range []struct {
		text  string
		slack int // how far over the real count the bound may be
	}{
		// A root array is counted as the root and as an array.
		{`1`, 0}, {`[]`, 1}, {`{}`, 0}, {`[[[[]]]]`, 1}, {`[1,2,3]`, 1}, {`{"a":1}`, 0},
		{`{"a":1,"b":[1,{"c":null}],"d":"x"}`, 1},
		{`{"a":1,"b":2,"c":3,"d":4,"e":5}`, 0},
		{`[{"sku":"A","qty":2},{"sku":"B","qty":3}]`, 2},
		{`{"s":"a,b:c[d{"}`, 7}, // structural bytes in strings only add to it
		{strings.Repeat(`[`, 60) + strings.Repeat(`]`, 60), 1},
		// Empty arrays are counted as arrays that have a first element:
		// the worst case, about twice the tokens.
		{`{"a":[` + strings.Repeat(`[[]],`, 50) + `[[]]]}`, 51},
		{`[` + strings.Repeat(`[],`, 50) + `[]]`, 52},
	} {
		r := TapeReader{}
		tp, err := r.Read([]byte(tc.text))
		if err != nil {
			t.Fatalf("%s: %v", tc.text, err)
		}
		n := tokenBound([]byte(tc.text))
		if got := len(tp.toks); got > n || n > got+tc.slack {
			t.Errorf("%.60s: %d tokens, bound %d (slack %d)", tc.text, got, n, tc.slack)
		}
	}
}

// detailPattern: an error is a fixed message, a byte offset and a path of
// printable ASCII; it carries no other payload bytes.
var detailPattern = regexp.MustCompile(`^[a-zA-Z0-9 ,:\]}\\-]+ at byte [0-9]+ in (…)?[\x20-\x7e]*$`)

func stdlibDecode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil || d.InputOffset() != int64(len(bytes.TrimRight(b, " \t\r\n"))) {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

// loneSurrogateSlow looks for a \u escape of a surrogate that is not a
// high one directly followed by a low one, inside strings.
func loneSurrogateSlow(b []byte) bool {
	s := string(b)
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] != 'u' || i+6 > len(s) {
			i++
			continue
		}
		var r rune
		if _, err := fmtSscanHex(s[i+2:i+6], &r); err != nil {
			i++
			continue
		}
		switch {
		case r >= 0xd800 && r < 0xdc00:
			var lo rune
			if i+12 > len(s) || s[i+6:i+8] != `\u` {
				return true
			}
			if _, err := fmtSscanHex(s[i+8:i+12], &lo); err != nil || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 11
		case r >= 0xdc00 && r <= 0xdfff:
			return true
		default:
			i += 5
		}
	}
	return false
}

func fmtSscanHex(h string, r *rune) (int, error) {
	var v rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			v = v*16 + c - '0'
		case c >= 'a' && c <= 'f':
			v = v*16 + c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = v*16 + c - 'A' + 10
		default:
			return 0, errors.New("not hex")
		}
	}
	*r = v
	return 4, nil
}

// repeatedNameSlow walks the document with encoding/json's tokenizer and
// reports a name repeated within one object.
func repeatedNameSlow(b []byte) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	type obj struct {
		names  map[string]bool
		expect bool // the next string is a name
	}
	var stack []*obj
	for {
		tk, err := d.Token()
		if err != nil {
			return false
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tk.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top != nil {
					top.expect = true
				}
				stack = append(stack, &obj{names: map[string]bool{}, expect: true})
			case '[':
				if top != nil {
					top.expect = true
				}
				stack = append(stack, nil)
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.expect {
				if top.names[v] {
					return true
				}
				top.names[v] = true
				top.expect = false
				continue
			}
		}
		if top != nil {
			top.expect = true
		}
	}
}

// FuzzTapeMatchesStdlib: the reader takes exactly the JSON encoding/json
// takes that is valid UTF-8, has no lone surrogate escape and no repeated
// name, and reads it to the same document; its errors never quote the
// text.
func FuzzTapeMatchesStdlib(f *testing.F) {
	for _, s := range []string{
		`{"payment_id":"PAY-1","amount":1250.5,"payer":{"name":"Acme GmbH","iban":"DE89370400440532013000"},"refs":["INV-7",null,true,-0.5e-3]}`,
		`{"a":"\u00fc\n","b":"\ud800"}`, `{"a":"\ud83d\ude00","\u0062":1}`, "\"abcdefgh\x01ijklmnop\"",
		`{"ab":1,"ab":2}`, `{"abc":1,"axc":{"abc":1,"x":[{"y":1,"y":2}]}}`, `[{"a":1},{"a":2}] `,
		"{\"a\":\"\xff\"}", `[1e5,0.1,-0]`, `{"a" : {"a":[]} , "b":"a:"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgainstStdlib(t, b, false)
	})
}

// FuzzTapeLimits: under small limits, a text is either refused for a
// limit it breaks, or read with every value within the limits.
func FuzzTapeLimits(f *testing.F) {
	f.Add([]byte(`{"abcd":[[["xyz"]]],"n":12345}`), uint8(3), uint8(3), uint8(3), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, depth, str, num, name uint8) {
		lim := Limits{MaxDepth: int(depth%8) + 1, MaxStringBytes: int(str%16) + 1, MaxNumberBytes: int(num%16) + 1, MaxNameBytes: int(name%16) + 1}
		r := TapeReader{Limits: lim}
		tp, err := r.Read(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !detailPattern.MatchString(e.Error()) {
				t.Fatalf("%q: error %q is not a plain detail", b, err)
			}
			return
		}
		var walk func(i, level int, isName bool)
		walk = func(i, level int, isName bool) {
			s, e := tp.Span(i)
			switch tp.Kind(i) {
			case KindObject, KindArray:
				if level > lim.MaxDepth {
					t.Fatalf("%q: read %d levels under %+v", b, level, lim)
				}
				for j := i + 1; j < tp.Next(i); {
					if tp.Kind(i) == KindObject {
						walk(j, level, true)
						j++
					}
					walk(j, level+1, false)
					j = tp.Next(j)
				}
			case KindString:
				max := lim.MaxStringBytes
				if isName {
					max = lim.MaxNameBytes
				}
				if e-s-2 > max {
					t.Fatalf("%q: read a string of %d bytes under %+v", b, e-s-2, lim)
				}
			case KindNumber:
				if e-s > lim.MaxNumberBytes {
					t.Fatalf("%q: read a number of %d bytes under %+v", b, e-s, lim)
				}
			}
		}
		walk(0, 1, false)
	})
}

// TestLargeTextsMatchStdlib: texts past the thousand tokens at which the
// tape is sized to the text (see grow), each density, read as
// encoding/json reads them and within the bound.
func TestLargeTextsMatchStdlib(t *testing.T) {
	var records, keys strings.Builder
	records.WriteString(`{"lines":[`)
	keys.WriteString(`{`)
	for i := range 3000 {
		if i > 0 {
			records.WriteByte(',')
			keys.WriteByte(',')
		}
		records.WriteString(`{"sku":"SKU-` + strconv.Itoa(i) + `","qty":2,"ok":true,"t":"a,b:[{"}`)
		keys.WriteString(`"k` + strconv.Itoa(i) + `":` + strconv.Itoa(i))
	}
	records.WriteString(`]}`)
	keys.WriteString(`}`)
	nest := strings.Repeat("[", 40) + "1" + strings.Repeat("]", 40)
	for _, text := range []string{
		records.String(), keys.String(),
		`{"a":[` + strings.Repeat(nest+",", 200) + nest + `]}`,
	} {
		checkAgainstStdlib(t, []byte(text), true)
	}
}
