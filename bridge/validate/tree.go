package validate

import (
	"bytes"
	"math"
	"unicode/utf8"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// tape is an event read into a flat list of tokens, one per value and
// member name, each with its place in the text: the tree the fast path
// walks. It holds no pointers, so filling it costs no write barrier while
// the collector marks, and nothing is allocated per value once the list
// has grown to an event's size. fastjson's arena tree, used before, cost
// as much again as reading the text, and its pointer writes a tenth of
// the stage while the collector ran.
//
// A value's subtree follows it: an object's members are name and value in
// turn, an array's elements one after another, and next says where the
// subtree ends, so a walker steps over a value without reading it.
type tape struct {
	src  []byte
	toks []tok
}

type tokKind uint8

const (
	tokObject tokKind = iota
	tokArray
	tokString
	tokNumber
	tokTrue
	tokFalse
	tokNull
)

type tok struct {
	kind tokKind
	// escaped: the string's text has escapes and must be unescaped to be
	// read.
	escaped bool
	// start and end: a string's text between its quotes, a number's text.
	start, end uint32
	next       uint32 // the index after this value's subtree
	n          uint32 // an object's members, an array's elements
}

// raw is a string's or number's text as written.
func (t *tape) raw(i int) []byte { return t.src[t.toks[i].start:t.toks[i].end] }

// str is the value of the string at i; unescaping writes into buf, which
// the result may share.
func (t *tape) str(i int, buf *[]byte) []byte {
	if !t.toks[i].escaped {
		return t.raw(i)
	}
	*buf, _ = jsontext.AppendUnescaped((*buf)[:0], t.raw(i)) // the reader took only escapes it reads alike
	return *buf
}

// member returns the index of the value of the member named k in the
// object at i, or -1. Names are never escaped on a tape (the reader
// leaves such events to encoding/json), so they compare as written.
func (t *tape) member(i int, k string) int {
	for j := i + 1; j < int(t.toks[i].next); j = int(t.toks[j+1].next) {
		if string(t.raw(j)) == k {
			return j + 1
		}
	}
	return -1
}

// tapeReader reads an event onto a tape. One reader serves one event at a
// time; the tape lives until its next read.
//
// It takes only what encoding/json reads into the same document, and
// reads it exactly as encoding/json does: strict JSON grammar, no raw
// control characters in strings, no escaped UTF-16 surrogates (readers
// disagree on broken pairs; events rarely carry astral characters
// escaped), valid UTF-8, no member name escaped or repeated within its
// object, and at most maxTapeDepth levels of nesting. Anything else reads
// as "cannot tell" and goes the way of encoding/json (Decode), which also
// gives the error message. So the verdict and the forwarded content never
// depend on which way an event went; FuzzTapeMatchesDecode checks that.
type tapeReader struct {
	tape  tape
	names nameTracker
	depth int
}

// maxTapeDepth bounds the reader's recursion; events nest a few levels.
const maxTapeDepth = 64

// read returns the payload's tape, or nil when it must be decoded the
// encoding/json way.
func (r *tapeReader) read(payload []byte) *tape {
	r.tape = tape{src: payload, toks: r.tape.toks[:0]}
	r.names.reset()
	r.depth = 0
	if len(payload) > math.MaxUint32 || !utf8.Valid(payload) {
		return nil
	}
	i, ok := r.value(jsontext.SkipSpace(payload, 0))
	if !ok || jsontext.SkipSpace(payload, i) != len(payload) {
		return nil
	}
	return &r.tape
}

// value reads the value at i (space skipped) and returns where it ends.
func (r *tapeReader) value(i int) (int, bool) {
	b := r.tape.src
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '{':
		return r.object(i)
	case '[':
		return r.array(i)
	case '"':
		end, escaped, ok := r.string(i)
		if !ok {
			return 0, false
		}
		r.push(tok{kind: tokString, escaped: escaped, start: uint32(i + 1), end: uint32(end - 1)})
		return end, true
	case 't':
		return r.literal(i, "true", tokTrue)
	case 'f':
		return r.literal(i, "false", tokFalse)
	case 'n':
		return r.literal(i, "null", tokNull)
	}
	n := numberLen(b[i:])
	if n == 0 || (i+n < len(b) && numberByte[b[i+n]]) {
		return 0, false // not a number, or one read on into 01, 1.2.3, 1e5e5
	}
	r.push(tok{kind: tokNumber, start: uint32(i), end: uint32(i + n)})
	return i + n, true
}

func (r *tapeReader) push(t tok) {
	t.next = uint32(len(r.tape.toks) + 1)
	r.tape.toks = append(r.tape.toks, t)
}

func (r *tapeReader) literal(i int, lit string, kind tokKind) (int, bool) {
	if literalLen(r.tape.src[i:], lit) == 0 {
		return 0, false
	}
	r.push(tok{kind: kind})
	return i + len(lit), true
}

// string reads the string whose opening quote is at i: its end after the
// closing quote, and whether it has escapes.
func (r *tapeReader) string(i int) (end int, escaped, ok bool) {
	b := r.tape.src
	for i++; ; {
		i = jsontext.SpecialIndex(b, i)
		if i >= len(b) {
			return 0, false, false // unterminated
		}
		if b[i] == '"' {
			return i + 1, escaped, true
		}
		n := escapeLen(b[i:])
		if n == 0 {
			return 0, false, false // a raw control character or a bad escape
		}
		escaped = true
		i += n
	}
}

// open starts the container at i: its token, one level deeper.
func (r *tapeReader) open(kind tokKind, c byte) (int, bool) {
	if r.depth++; r.depth > maxTapeDepth {
		return 0, false
	}
	r.names.bracket(c)
	r.push(tok{kind: kind})
	return len(r.tape.toks) - 1, true
}

// close ends the container whose token is at, of n children.
func (r *tapeReader) close(at, n int, c byte) {
	r.depth--
	r.names.bracket(c)
	r.tape.toks[at].next = uint32(len(r.tape.toks))
	r.tape.toks[at].n = uint32(n)
}

func (r *tapeReader) object(i int) (int, bool) {
	b := r.tape.src
	at, ok := r.open(tokObject, '{')
	if !ok {
		return 0, false
	}
	i = jsontext.SkipSpace(b, i+1)
	n := 0
	if i < len(b) && b[i] == '}' {
		r.close(at, n, '}')
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		end, escaped, ok := r.string(i)
		if !ok || escaped || !r.names.name(b, i+1, end-1) {
			return 0, false // an escaped name could spell another: encoding/json decides
		}
		r.push(tok{kind: tokString, start: uint32(i + 1), end: uint32(end - 1)})
		i = jsontext.SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i, ok = r.value(jsontext.SkipSpace(b, i+1)); !ok {
			return 0, false
		}
		n++
		i = jsontext.SkipSpace(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = jsontext.SkipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			r.close(at, n, '}')
			return i + 1, true
		default:
			return 0, false
		}
	}
}

func (r *tapeReader) array(i int) (int, bool) {
	b := r.tape.src
	at, ok := r.open(tokArray, '[')
	if !ok {
		return 0, false
	}
	i = jsontext.SkipSpace(b, i+1)
	n := 0
	if i < len(b) && b[i] == ']' {
		r.close(at, n, ']')
		return i + 1, true
	}
	for {
		if i, ok = r.value(i); !ok {
			return 0, false
		}
		n++
		i = jsontext.SkipSpace(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = jsontext.SkipSpace(b, i+1)
		case i < len(b) && b[i] == ']':
			r.close(at, n, ']')
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// nameTracker finds a member name repeated within one object
// (encoding/json keeps the last of a repeated name, a lookup on the tape
// the first, and a masking rule must see the value that was validated)
// while the tape is read, so it need not be walked again for it. Names are compared pairwise, and only within a class of (length,
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

func literalLen(b []byte, lit string) int {
	if len(b) >= len(lit) && string(b[:len(lit)]) == lit {
		return len(lit)
	}
	return 0
}

// numberByte marks the bytes that may go on a number: after a complete
// number, one of them means a malformed one (01, 1.2.3, 1e5e5).
var numberByte = func() (t [256]bool) {
	for _, c := range "0123456789.eE+-" {
		t[c] = true
	}
	return t
}()

// escapeLen is the length of the escape sequence at the start of b, or 0
// when it is not one the tape takes (see tapeReader).
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
