package jsontext

import (
	"math"
	"unicode/utf16"
	"unicode/utf8"
)

// Tape is a JSON text read into a flat list of tokens, one per value and
// member name, each with its span in the text: the tree that validation
// walks and masking splices along. It holds no pointers, so filling it
// costs no write barrier while the collector marks, and nothing is
// allocated per value once the list has grown to an event's size.
// fastjson's arena tree, used before, cost as much again as reading the
// text, and its pointer writes a tenth of validating while the collector
// ran.
//
// A value's subtree follows it: an object's members are name and value in
// turn, an array's elements one after another, and Next says where the
// subtree ends, so a walker steps over a value without reading it. The
// root is token 0.
type Tape struct {
	src  []byte
	toks []tok
}

// Kind is a token's kind of value.
type Kind uint8

// The kinds of value.
const (
	KindObject Kind = iota
	KindArray
	KindString
	KindNumber
	KindTrue
	KindFalse
	KindNull
)

type tok struct {
	kind Kind
	// escaped: the string's text has escapes and must be unescaped to be
	// read.
	escaped    bool
	start, end uint32 // the value's text, quotes and brackets included
	next       uint32 // the index after this value's subtree
	n          uint32 // an object's members, an array's elements
}

// Kind is the kind of the value at i.
func (t *Tape) Kind(i int) Kind { return t.toks[i].kind }

// Next is the index after the subtree of the value at i.
func (t *Tape) Next(i int) int { return int(t.toks[i].next) }

// Len is the number of members or elements of the object or array at i.
func (t *Tape) Len(i int) int { return int(t.toks[i].n) }

// Span is where the value at i is in the text, quotes and brackets
// included.
func (t *Tape) Span(i int) (start, end int) { return int(t.toks[i].start), int(t.toks[i].end) }

// Escaped says whether the string at i has escapes.
func (t *Tape) Escaped(i int) bool { return t.toks[i].escaped }

// Raw is the text of the value at i as written, a string's without its
// quotes.
func (t *Tape) Raw(i int) []byte {
	start, end := t.toks[i].start, t.toks[i].end
	if t.toks[i].kind == KindString {
		start, end = start+1, end-1
	}
	return t.src[start:end]
}

// Str is the value of the string at i; unescaping writes into buf, which
// the result may share.
func (t *Tape) Str(i int, buf *[]byte) []byte {
	if !t.toks[i].escaped {
		return t.Raw(i)
	}
	*buf, _ = AppendUnescaped((*buf)[:0], t.Raw(i)) // the reader took only escapes it reads alike
	return *buf
}

// Member returns the index of the value of the member named k in the
// object at i, or -1. Names are never escaped on a tape (the reader
// leaves such texts to encoding/json), so they compare as written.
func (t *Tape) Member(i int, k string) int {
	for j := i + 1; j < t.Next(i); j = t.Next(j + 1) {
		if string(t.Raw(j)) == k {
			return j + 1
		}
	}
	return -1
}

// Release drops the tape's hold on the text, for a tape kept for reuse.
func (t *Tape) Release() { t.src = nil }

// Release drops the reader's tape's hold on its text.
func (r *TapeReader) Release() { r.tape.Release() }

// TapeReader reads a text onto a tape. One reader serves one text at a
// time; the tape lives until its next read.
//
// It takes only what encoding/json reads into the same document, and
// reads it exactly as encoding/json does: strict JSON grammar, no raw
// control characters in strings, no escaped UTF-16 surrogates (readers
// disagree on broken pairs; events rarely carry astral characters
// escaped), valid UTF-8, no member name escaped or repeated within its
// object, and at most maxTapeDepth levels of nesting. Anything else reads
// as "cannot tell", for the caller to leave to encoding/json, which also
// gives the error message. So what a text means never depends on which
// way it went (validate's FuzzTapeMatchesDecode checks that).
type TapeReader struct {
	tape  Tape
	names nameTracker
	depth int
}

// maxTapeDepth bounds the reader's recursion; events nest a few levels.
const maxTapeDepth = 64

// Read returns the payload's tape, or nil when it must be decoded the
// encoding/json way.
func (r *TapeReader) Read(payload []byte) *Tape {
	r.tape = Tape{src: payload, toks: r.tape.toks[:0]}
	r.names.reset()
	r.depth = 0
	if len(payload) > math.MaxUint32 || !utf8.Valid(payload) {
		return nil
	}
	i, ok := r.value(SkipSpace(payload, 0))
	if !ok || SkipSpace(payload, i) != len(payload) {
		return nil
	}
	return &r.tape
}

// value reads the value at i (space skipped) and returns where it ends.
func (r *TapeReader) value(i int) (int, bool) {
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
		r.push(tok{kind: KindString, escaped: escaped, start: uint32(i), end: uint32(end)})
		return end, true
	case 't':
		return r.literal(i, "true", KindTrue)
	case 'f':
		return r.literal(i, "false", KindFalse)
	case 'n':
		return r.literal(i, "null", KindNull)
	}
	n := numberLen(b[i:])
	if n == 0 || (i+n < len(b) && numberByte[b[i+n]]) {
		return 0, false // not a number, or one read on into 01, 1.2.3, 1e5e5
	}
	r.push(tok{kind: KindNumber, start: uint32(i), end: uint32(i + n)})
	return i + n, true
}

func (r *TapeReader) push(t tok) {
	t.next = uint32(len(r.tape.toks) + 1)
	r.tape.toks = append(r.tape.toks, t)
}

func (r *TapeReader) literal(i int, lit string, kind Kind) (int, bool) {
	if literalLen(r.tape.src[i:], lit) == 0 {
		return 0, false
	}
	r.push(tok{kind: kind, start: uint32(i), end: uint32(i + len(lit))})
	return i + len(lit), true
}

// string reads the string whose opening quote is at i: its end after the
// closing quote, and whether it has escapes.
func (r *TapeReader) string(i int) (end int, escaped, ok bool) {
	b := r.tape.src
	for i++; ; {
		i = SpecialIndex(b, i)
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
func (r *TapeReader) open(kind Kind, i int) (int, bool) {
	if r.depth++; r.depth > maxTapeDepth {
		return 0, false
	}
	if kind == KindObject {
		r.names.open()
	}
	r.push(tok{kind: kind, start: uint32(i)})
	return len(r.tape.toks) - 1, true
}

// close ends the container whose token is at, of n children, with the
// closing bracket at i; it returns the container's end.
func (r *TapeReader) close(at, n, i int) int {
	r.depth--
	t := &r.tape.toks[at]
	if t.kind == KindObject {
		r.names.close()
	}
	t.next, t.n, t.end = uint32(len(r.tape.toks)), uint32(n), uint32(i+1)
	return i + 1
}

func (r *TapeReader) object(i int) (int, bool) { return r.container(i, KindObject, '}') }

func (r *TapeReader) array(i int) (int, bool) { return r.container(i, KindArray, ']') }

// container reads the object or array at i up to its closer: members for
// an object, elements for an array, separated by commas.
func (r *TapeReader) container(i int, kind Kind, closer byte) (int, bool) {
	b := r.tape.src
	at, ok := r.open(kind, i)
	if !ok {
		return 0, false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return r.close(at, 0, i), true
	}
	for n := 1; ; n++ {
		if kind == KindObject {
			i, ok = r.member(i)
		} else {
			i, ok = r.value(i)
		}
		if !ok {
			return 0, false
		}
		i = SkipSpace(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = SkipSpace(b, i+1)
		case i < len(b) && b[i] == closer:
			return r.close(at, n, i), true
		default:
			return 0, false
		}
	}
}

// member reads the name, colon and value of the member at i.
func (r *TapeReader) member(i int) (int, bool) {
	b := r.tape.src
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	end, escaped, ok := r.string(i)
	if !ok || escaped || !r.names.name(b, i+1, end-1) {
		return 0, false // an escaped name could spell another: encoding/json decides
	}
	r.push(tok{kind: KindString, start: uint32(i), end: uint32(end)})
	i = SkipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	return r.value(SkipSpace(b, i+1))
}

// nameTracker finds a member name repeated within one object
// (encoding/json keeps the last of a repeated name, a lookup on the tape
// the first, and a masking rule must see the value that was validated)
// while the tape is read, so it need not be walked again for it. Names
// are compared pairwise, and only within a class of (length, first and
// last byte): event objects have a few dozen members, where this beats
// building a set. The reader opens a frame per object; names is a stack,
// each open object's names above its parent's.
//
// It answers "cannot tell" (false) for an object of more than 64
// members: the slow way decides those. The reader itself refuses escaped
// names, which could spell another name differently.
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
	seen  uint64 // the classes of its names so far
	start int    // its first name in names
}

func (t *nameTracker) reset() {
	t.frames = t.frames[:0]
	t.names = t.names[:0]
}

// open starts an object's frame.
func (t *nameTracker) open() {
	t.frames = append(t.frames, nameFrame{start: len(t.names)})
}

// close ends the innermost object's frame and forgets its names.
func (t *nameTracker) close() {
	f := t.frames[len(t.frames)-1]
	t.names = t.names[:f.start]
	t.frames = t.frames[:len(t.frames)-1]
}

// name records the raw name text[start:end] in the innermost object:
// false when the object already has it, or when the tracker cannot tell.
// The text is at most 4 GiB (the reader checks), so offsets fit 32 bits.
func (t *nameTracker) name(text []byte, start, end int) bool {
	k := text[start:end]
	f := &t.frames[len(t.frames)-1]
	if len(t.names)-f.start >= 64 {
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
// when it is not one the tape takes (see TapeReader): a surrogate is
// left to encoding/json, as AppendUnescaped leaves it.
func escapeLen(b []byte) int {
	if len(b) < 2 || b[0] != '\\' {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 {
			return 0
		}
		if r, ok := hex4(b[2:6]); ok && !utf16.IsSurrogate(r) {
			return 6
		}
	}
	return 0
}

// nameClass is the bit of a name's class among 64, by its length and
// first and last byte.
func nameClass(k []byte) uint64 { return 1 << NameSlot(k) }

// NameSlot is a member name's class among 64, by its length and first
// and last byte: a hash that costs three loads, for looking names up in
// small tables.
func NameSlot(k []byte) uint {
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
