package jsontext

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"
)

// Tape is a JSON text read into a flat list of tokens, one per value and
// member name, each with its span in the text: the tree that validation
// walks and masking splices along. It holds no pointers, so filling it
// costs no write barrier while the collector marks, and nothing is
// allocated per value once the list has grown to an event's size.
// Identity, validation, masking and the library's document (Value) all
// come from this one reading.
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
	*buf, _ = AppendUnescaped((*buf)[:0], t.Raw(i)) // the reader took only escapes it can read
	return *buf
}

// Member returns the index of the value of the member named k in the
// object at i, or -1. Names are unique within an object (the reader
// refuses a repeated one), so the first match is the only one.
func (t *Tape) Member(i int, k string) int {
	var buf [64]byte
	for j := i + 1; j < t.Next(i); j = t.Next(j + 1) {
		if !t.toks[j].escaped {
			if string(t.Raw(j)) == k {
				return j + 1
			}
			continue
		}
		b := buf[:0]
		if string(t.Str(j, &b)) == k {
			return j + 1
		}
	}
	return -1
}

// Release drops the tape's hold on the text, for a tape kept for reuse.
func (t *Tape) Release() { t.src = nil }

// Release drops the reader's tape's hold on its text.
func (r *TapeReader) Release() { r.tape.Release() }

// TapeReader reads a text onto a tape, or says exactly why it cannot.
// One reader serves one text at a time; the tape lives until its next
// read.
//
// It is the bridge's only JSON reader for partner input, so it decides
// every payload itself, in one pass, in time proportional to its length:
// strict RFC 8259 grammar, valid UTF-8, escaped UTF-16 surrogates only as
// pairs, no member name repeated within its object (readers disagree on
// which one wins), and Limits on nesting and on the length of strings,
// numbers and names. Its recursion is bounded by Limits.MaxDepth.
type TapeReader struct {
	// Limits bound what is read; a zero field takes its default.
	Limits Limits

	lim     Limits
	tape    Tape
	names   nameTracker
	stack   []frame // the open containers, for an error's path
	badUTF8 int     // the first invalid UTF-8 byte, or -1
	err     *Error
	nameBuf []byte
	sized   bool // the tape was sized to the text (see grow)
}

// frame is an open container: its token, how many children it has read,
// and for an object the token of the current member's name.
type frame struct {
	at, n, name int
}

// Read returns the payload's tape, or an *Error saying what is wrong and
// where, never quoting the payload.
func (r *TapeReader) Read(payload []byte) (*Tape, error) {
	r.tape = Tape{src: payload, toks: r.tape.toks[:0]}
	r.sized = false
	r.names.reset(payload)
	r.stack = r.stack[:0]
	r.err = nil
	r.lim = r.Limits.withDefaults()
	r.badUTF8 = -1
	if len(payload) > math.MaxUint32 {
		return nil, &Error{Path: "/", Limit: true, Msg: "text longer than 4 GiB"}
	}
	if !utf8.Valid(payload) {
		r.badUTF8 = firstInvalidUTF8(payload)
	}
	i, ok := r.value(SkipSpace(payload, 0))
	if ok {
		if i = SkipSpace(payload, i); i != len(payload) {
			ok = r.fail(i, false, "data after the JSON value")
		}
	}
	if !ok {
		r.tape.src = nil
		return nil, r.err
	}
	return &r.tape, nil
}

// grow makes room on a full tape. The first time in a text it reserves
// room for all of it at once (tokenBound): growing by appending copies the
// tape over and over, and a pooled reader's tape is dropped at every
// collection, so a large payload would pay for that each time. Counting
// waits until a full tape has a thousand tokens, so a text that fits the
// tape it was given, is small, or is refused early costs no count and
// reserves nothing for what it will never hold.
func (r *TapeReader) grow() {
	toks := r.tape.toks
	n := 2*cap(toks) + 16
	if !r.sized && len(toks) >= 1024 {
		r.sized = true
		n = max(n, tokenBound(r.tape.src))
	}
	r.tape.toks = append(make([]tok, 0, n), toks...)
}

// tokenBound is an upper bound on the tokens of a JSON text, from counts
// of its structural bytes: a name is followed by a colon, and an
// object's members and an array's elements but the first are each
// preceded by a comma. So tokens (names and values) are at most 1 +
// commas + arrays + 2·colons, and at most 1 + 2·commas + arrays +
// 2·objects. Every token but the last takes two bytes of text at least
// (a value and its comma, a name and its colon, an opener and its
// closer), so there are at most len/2+1. The smallest of the three is
// kept: structural bytes inside strings only add to the first two, and
// the third caps what a string full of them can make the reader reserve.
// For a text that is not JSON it is only a hint. bytes.Count is
// vectorized: four passes cost little next to reading the text.
func tokenBound(b []byte) int {
	commas, colons := bytes.Count(b, comma), bytes.Count(b, colon)
	arrays, objects := bytes.Count(b, openArray), bytes.Count(b, openObject)
	tokens := 1 + arrays + min(commas+2*colons, 2*commas+2*objects)
	return min(tokens, len(b)/2+1)
}

// nameBound is an upper bound on the member names of a JSON text: a colon
// each, and five bytes each at least ("":0,).
func nameBound(b []byte) int {
	return min(bytes.Count(b, colon), len(b)/5+1)
}

var comma, colon, openArray, openObject = []byte{','}, []byte{':'}, []byte{'['}, []byte{'{'}

// fail records the first error, at byte i of the text, and returns false.
func (r *TapeReader) fail(i int, limit bool, msg string) bool {
	if r.err == nil {
		if r.badUTF8 >= 0 && r.badUTF8 <= i {
			// A grammar error after invalid bytes is the bytes' fault.
			i, limit, msg = r.badUTF8, false, "invalid UTF-8"
		}
		r.err = &Error{Offset: i, Path: r.path(), Limit: limit, Msg: msg}
	}
	return false
}

// value reads the value at i (space skipped) and returns where it ends.
func (r *TapeReader) value(i int) (int, bool) {
	b := r.tape.src
	if i >= len(b) {
		return 0, r.fail(i, false, "unexpected end of text")
	}
	switch b[i] {
	case '{':
		return r.container(i, KindObject, '}')
	case '[':
		return r.container(i, KindArray, ']')
	case '"':
		end, escaped, ok := r.string(i, r.lim.MaxStringBytes, "string")
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
		return 0, r.fail(i, false, "invalid value")
	}
	if n > r.lim.MaxNumberBytes {
		return 0, r.fail(i, true, "number longer than "+strconv.Itoa(r.lim.MaxNumberBytes)+" bytes")
	}
	r.push(tok{kind: KindNumber, start: uint32(i), end: uint32(i + n)})
	return i + n, true
}

func (r *TapeReader) push(t tok) {
	if len(r.tape.toks) == cap(r.tape.toks) {
		r.grow()
	}
	t.next = uint32(len(r.tape.toks) + 1)
	r.tape.toks = append(r.tape.toks, t)
}

func (r *TapeReader) literal(i int, lit string, kind Kind) (int, bool) {
	if literalLen(r.tape.src[i:], lit) == 0 {
		return 0, r.fail(i, false, "invalid value")
	}
	r.push(tok{kind: kind, start: uint32(i), end: uint32(i + len(lit))})
	return i + len(lit), true
}

// string reads the string whose opening quote is at i: its end after the
// closing quote, and whether it has escapes. Its text between the quotes
// may be at most max bytes; what names it in an error.
func (r *TapeReader) string(i, max int, what string) (end int, escaped, ok bool) {
	b := r.tape.src
	start := i
	limit := len(b)
	if start+2+max < limit {
		limit = start + 2 + max // the closing quote may be at start+1+max
	}
	for i++; ; {
		i = SpecialIndex(b[:limit], i)
		if i >= limit {
			if limit < len(b) {
				return 0, false, r.fail(start, true, what+" longer than "+strconv.Itoa(max)+" bytes")
			}
			return 0, false, r.fail(start, false, "unterminated string")
		}
		if b[i] == '"' {
			if r.badUTF8 > start && r.badUTF8 < i {
				return 0, false, r.fail(r.badUTF8, false, "invalid UTF-8")
			}
			return i + 1, escaped, true
		}
		n, msg := escapeLen(b[i:])
		if n == 0 {
			return 0, false, r.fail(i, false, msg)
		}
		escaped = true
		i += n
	}
}

// container reads the object or array at i up to its closer: members for
// an object, elements for an array, separated by commas.
func (r *TapeReader) container(i int, kind Kind, closer byte) (int, bool) {
	b := r.tape.src
	if len(r.stack) >= r.lim.MaxDepth {
		return 0, r.fail(i, true, "nesting deeper than "+strconv.Itoa(r.lim.MaxDepth))
	}
	if kind == KindObject {
		r.names.open()
	}
	r.push(tok{kind: kind, start: uint32(i)})
	at := len(r.tape.toks) - 1
	r.stack = append(r.stack, frame{at: at, name: -1})
	f := len(r.stack) - 1
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return r.close(at, 0, i)
	}
	var ok bool
	for n := 1; ; n++ {
		r.stack[f].n = n - 1
		if kind == KindObject {
			i, ok = r.member(i, f)
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
			return r.close(at, n, i)
		case i >= len(b):
			return 0, r.fail(i, false, "unexpected end of text")
		default:
			return 0, r.fail(i, false, "expected , or "+string(closer))
		}
	}
}

// close ends the container whose token is at, of n children, with the
// closing bracket at i; it returns the container's end. A large object's
// repeated name is found here (see nameTracker).
func (r *TapeReader) close(at, n, i int) (int, bool) {
	t := &r.tape.toks[at]
	if t.kind == KindObject {
		if dup := r.names.close(); dup >= 0 {
			r.stack[len(r.stack)-1].name = dup
			return 0, r.fail(int(r.tape.toks[dup].start), false, "member name repeated")
		}
	}
	r.stack = r.stack[:len(r.stack)-1]
	t.next, t.n, t.end = uint32(len(r.tape.toks)), uint32(n), uint32(i+1)
	return i + 1, true
}

// member reads the name, colon and value of the member at i of the
// object whose frame is f.
func (r *TapeReader) member(i, f int) (int, bool) {
	b := r.tape.src
	if i >= len(b) {
		return 0, r.fail(i, false, "unexpected end of text")
	}
	r.stack[f].name = -1 // an error in the name is in the object
	if b[i] != '"' {
		return 0, r.fail(i, false, "expected a member name")
	}
	end, escaped, ok := r.string(i, r.lim.MaxNameBytes, "member name")
	if !ok {
		return 0, false
	}
	r.push(tok{kind: KindString, escaped: escaped, start: uint32(i), end: uint32(end)})
	r.stack[f].name = len(r.tape.toks) - 1
	var value []byte
	if escaped {
		r.nameBuf, _ = AppendUnescaped(r.nameBuf[:0], b[i+1:end-1])
		value = r.nameBuf
	}
	if !r.names.name(i+1, end-1, value, len(r.tape.toks)-1) {
		return 0, r.fail(i, false, "member name repeated")
	}
	i = SkipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return 0, r.fail(i, false, "expected :")
	}
	return r.value(SkipSpace(b, i+1))
}

// path is the JSON pointer of the value being read. A name that is
// long, escaped or not plain printable text is shown by its position
// instead, so an error never carries arbitrary payload bytes.
func (r *TapeReader) path() string {
	if len(r.stack) == 0 {
		return "/"
	}
	var p []byte
	for _, f := range r.stack {
		p = append(p, '/')
		if r.tape.toks[f.at].kind == KindArray {
			p = strconv.AppendInt(p, int64(f.n), 10)
			continue
		}
		if f.name < 0 {
			p = p[:len(p)-1]
			break // the error is in this object, not in a member's value
		}
		t := r.tape.toks[f.name]
		name := r.tape.src[t.start+1 : t.end-1]
		if t.escaped || len(name) > 64 || !plainName(name) {
			p = append(p, "(member "...)
			p = strconv.AppendInt(p, int64(f.n+1), 10)
			p = append(p, ')')
			continue
		}
		for _, c := range name {
			switch c {
			case '~':
				p = append(p, "~0"...)
			case '/':
				p = append(p, "~1"...)
			default:
				p = append(p, c)
			}
		}
	}
	if len(p) == 0 {
		return "/"
	}
	if len(p) > 256 {
		p = append([]byte("…"), p[len(p)-255:]...)
	}
	return string(p)
}

// plainName: printable ASCII, the names a schema would use.
func plainName(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// firstInvalidUTF8 is the index of the first byte of b that is not part
// of a valid UTF-8 sequence.
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}
