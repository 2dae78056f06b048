package validate

import (
	"bytes"
	"math"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// treeParser reads an event into fastjson's arena tree, which costs a
// fraction of a tree of Go maps and interfaces: no allocation per value,
// no hashing of member names. One parser serves one event at a time; the
// tree lives until its next parse.
//
// fastjson is more lenient than encoding/json in corners (it takes raw
// control characters in strings, numbers such as 01 or 1.e5, NaN, repeated
// member names, and reads lone surrogate escapes differently). parse
// therefore returns a tree only when the payload is one that both read
// into the same document; anything else returns nil and goes the way of
// encoding/json (Decode), which also gives the error message. So the
// verdict and the forwarded content never depend on which way an event
// went; FuzzTreeMatchesDecode checks that.
type treeParser struct {
	p     fastjson.Parser
	names nameTracker
}

// parse returns the payload's tree, or nil when it must be decoded the
// encoding/json way.
func (tp *treeParser) parse(payload []byte) *fastjson.Value {
	tp.names.reset()
	if !plainTokens(payload, &tp.names) || !utf8.Valid(payload) {
		return nil
	}
	v, err := tp.p.ParseBytes(payload)
	if err != nil {
		return nil
	}
	return v
}

// plainTokens reports whether a JSON text has only tokens that fastjson
// and encoding/json read alike: strings with control-free characters and
// well-formed escapes, none of them a UTF-16 surrogate (the two disagree
// on broken pairs; events rarely carry astral characters escaped),
// numbers in JSON's grammar (fastjson also takes 01, 1.e5, NaN, inf),
// true, false, null, punctuation and whitespace. Structure is left to
// the parser, except that names, given a tracker, must not repeat within
// an object (see nameTracker).
func plainTokens(b []byte, names *nameTracker) bool {
	for i := 0; ; {
		// Between strings: punctuation, numbers and literals, up to the
		// next opening quote.
		for i < len(b) && b[i] != '"' {
			// '[' and ']' differ from '{' and '}' in bit 0x20 only.
			if c := b[i] | 0x20; names != nil && (c == '{' || c == '}') && !names.bracket(b[i]) {
				return false
			}
			n := gapTokenLen(b[i:])
			if n == 0 {
				return false
			}
			i += n
		}
		if i == len(b) {
			return true
		}
		i++
		start := i
		// Inside a string: content in bulk, then the closing quote, an
		// escape or a control character.
		for {
			i = jsontext.SpecialIndex(b, i)
			if i >= len(b) {
				return false // unterminated
			}
			if b[i] == '"' {
				i++
				break
			}
			n := escapeLen(b[i:])
			if n == 0 {
				return false // a raw control character or a bad escape
			}
			i += n
		}
		if names != nil && followsColon(b, i) && !names.name(b, start, i-1) {
			return false
		}
	}
}

// followsColon says whether the next byte after space from i is ':', that
// is whether the string that ended at i is a member name.
func followsColon(b []byte, i int) bool {
	i = jsontext.SkipSpace(b, i)
	return i < len(b) && b[i] == ':'
}

// nameTracker finds a member name repeated within one object
// (encoding/json keeps the last of a repeated name, fastjson's lookups the
// first, and a masking rule must see the value that was validated) while
// plainTokens reads the text, so the tree need not be walked again for
// it. Names are compared pairwise, and only within a class of (length,
// first and last byte): event objects have a few dozen members, where
// this beats building a set. names is a stack: each open object's names
// sit above its parent's.
//
// It answers "cannot tell" (false) for an escaped name, which could spell
// another name differently, and for an object of more than 64 members:
// the slow way decides those.
//
// Names are kept as offsets into the text, not as slices of it: storing a
// pointer costs a write barrier while the collector marks, and clearing
// them cost as much again.
type nameTracker struct {
	frames []nameFrame
	names  []nameSpan
}

// nameSpan is a name's raw text, text[start:end].
type nameSpan struct{ start, end uint32 }

type nameFrame struct {
	object bool
	seen   uint64 // the classes of its names so far
	start  int    // its first name in names
}

func (t *nameTracker) reset() {
	t.frames = t.frames[:0]
	t.names = t.names[:0]
}

// bracket follows the nesting; false for a bracket that closes nothing.
func (t *nameTracker) bracket(c byte) bool {
	switch c {
	case '{', '[':
		t.frames = append(t.frames, nameFrame{object: c == '{', start: len(t.names)})
	case '}', ']':
		if len(t.frames) == 0 {
			return false
		}
		f := t.frames[len(t.frames)-1]
		t.names = t.names[:f.start]
		t.frames = t.frames[:len(t.frames)-1]
	}
	return true
}

// name records the raw name text[start:end] in the innermost object:
// false when the object already has it, or when the tracker cannot tell.
func (t *nameTracker) name(text []byte, start, end int) bool {
	if len(t.frames) == 0 || end > math.MaxUint32 {
		return false
	}
	k := text[start:end]
	f := &t.frames[len(t.frames)-1]
	if !f.object || len(t.names)-f.start >= 64 || bytes.IndexByte(k, '\\') >= 0 {
		return false
	}
	bit := nameClass(k)
	if f.seen&bit != 0 {
		for _, other := range t.names[f.start:] {
			if string(text[other.start:other.end]) == string(k) {
				return false
			}
		}
	}
	f.seen |= bit
	t.names = append(t.names, nameSpan{uint32(start), uint32(end)})
	return true
}

// gapTokenLen is the length of the token at the start of b, outside any
// string: one byte of punctuation or whitespace, a number or a literal;
// 0 for anything else.
func gapTokenLen(b []byte) int {
	switch c := b[0]; c {
	case '{', '}', '[', ']', ',', ':', ' ', '\t', '\n', '\r':
		return 1
	case 't':
		return literalLen(b, "true")
	case 'f':
		return literalLen(b, "false")
	case 'n':
		return literalLen(b, "null")
	}
	n := numberLen(b)
	if n < len(b) && numberByte[b[n]] {
		return 0 // fastjson would read on: 01, 1.2.3, 1e5e5
	}
	return n
}

func literalLen(b []byte, lit string) int {
	if len(b) >= len(lit) && string(b[:len(lit)]) == lit {
		return len(lit)
	}
	return 0
}

// numberByte marks the bytes fastjson takes into a number.
var numberByte = func() (t [256]bool) {
	for _, c := range "0123456789.eE+-" {
		t[c] = true
	}
	return t
}()

// escapeLen is the length of the escape sequence at the start of b, or 0
// when it is not one both parsers read alike.
func escapeLen(b []byte) int {
	if len(b) < 2 || b[0] != '\\' {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) >= 6 && hex4(b[2:6]) && !surrogate(b[2:6]) {
			return 6
		}
	}
	return 0
}

func hex4(h []byte) bool {
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// surrogate: \uD800 to \uDFFF.
func surrogate(h []byte) bool {
	return (h[0] == 'd' || h[0] == 'D') && (h[1] >= '8' && h[1] <= '9' || h[1] >= 'a' && h[1] <= 'f' || h[1] >= 'A' && h[1] <= 'F')
}

// nameClass is the bit of a name's class among 64, by its length and
// first and last byte.
func nameClass(k []byte) uint64 { return 1 << nameSlot(k) }

func nameSlot(k []byte) uint {
	if len(k) == 0 {
		return 0
	}
	return (uint(len(k))*7 + uint(k[0])*3 + uint(k[len(k)-1])) & 63
}

// numberLen is the length of the number in RFC 8259's grammar at the
// start of s, -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, or 0.
func numberLen(s []byte) int {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return 0
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return 0
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return 0
		}
		i = j
	}
	return i
}

func digits(s []byte, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
