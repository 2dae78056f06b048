package mask

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// splicer masks an event in its own text: one pass reads the JSON with
// the path of every value in view, and the output is the input with the
// masked values' spans replaced and dropped members cut out, everything
// else copied in bulk. Writing the whole document back from a tree was
// most of masking's cost. Members keep their order and the partner's
// spacing stays; the document is the one Apply gives (FuzzSpliceMatchesApply).
//
// It reads text a parser has accepted as JSON and checks no syntax; on
// anything else it gives up without a panic (FuzzSpliceNeverPanics).
// Where the result would need the text of a whole object or array (a
// hash or keep_last rule on one) or could differ from Apply's (a rule with
// an array index after one that drops an element by index, which shifts
// the elements in Apply), it gives up and the tree way is taken.
type splicer struct {
	p      *Policy
	tp     *typePolicy
	src    []byte
	out    []byte
	copied int // src[:copied] is in out, edited
	failed bool

	key, str []byte   // unescaped key or string, when it had escapes
	texts    []byte   // a value's text through successive rules
	hits     [][2]int // the detectors' findings in one string
}

// spliceable says whether a type's rules can all be spliced: at most 64
// (they are tracked in a bit set) and no index shifted by a drop.
func (tp *typePolicy) spliceable() bool {
	if len(tp.fields) > 64 {
		return false
	}
	dropByIndex := false
	for _, r := range tp.fields {
		if dropByIndex {
			for _, seg := range r.path.segs {
				if _, ok := segIndex(seg); ok {
					return false
				}
			}
		}
		if r.act.kind == config.MaskDrop {
			_, ok := segIndex(r.path.segs[len(r.path.segs)-1])
			dropByIndex = dropByIndex || ok
		}
	}
	return true
}

// segIndex is seg as an array index, read as Apply reads it.
func segIndex(seg string) (int, bool) {
	i, err := strconv.Atoi(seg)
	return i, err == nil && i >= 0
}

// splice masks src into dst; ok is false when the tree way must do it.
func (s *splicer) splice(dst []byte) (out []byte, ok bool) {
	s.out = dst
	all := uint64(1)<<len(s.tp.fields) - 1
	if len(s.tp.fields) == 64 {
		all = ^uint64(0)
	}
	if _, drop := s.element(skipSpace(s.src, 0), 0, all); s.failed || drop {
		return dst, false
	}
	s.out = append(s.out, s.src[s.copied:]...)
	return s.out, true
}

// element handles the value at i, reached by a path of depth segments
// that the rules in alive match so far. It returns the value's end and
// whether a rule drops it; a dropped value is left for the caller to cut.
func (s *splicer) element(i, depth int, alive uint64) (end int, drop bool) {
	if i >= len(s.src) {
		s.failed = true // not JSON after all
		return len(s.src), false
	}
	var targeted uint64
	for a := alive; a != 0; a &= a - 1 {
		r := trailingZeros(a)
		if len(s.tp.fields[r].path.segs) == depth {
			targeted |= 1 << r
		}
	}
	if targeted != 0 {
		return s.masked(i, targeted)
	}
	deeper := alive != 0 || len(s.tp.detectors) > 0
	switch s.src[i] {
	case '{':
		if deeper {
			return s.object(i, depth, alive), false
		}
	case '[':
		if deeper {
			return s.array(i, depth, alive), false
		}
	case '"':
		end, escaped := stringEnd(s.src, i)
		if end-1 <= i || s.src[end-1] != '"' {
			s.failed = true // unterminated: not JSON after all
			return len(s.src), false
		}
		if len(s.tp.detectors) > 0 {
			s.scan(i, end, escaped)
		}
		return end, false
	}
	end = skipValue(s.src, i)
	if end == i {
		s.failed = true // no value here: not JSON after all
		return len(s.src), false
	}
	return end, false
}

// masked applies the targeted rules, in the policy's order, to the value
// at i: a drop anywhere drops it, otherwise each rule masks what the one
// before it left.
func (s *splicer) masked(i int, targeted uint64) (int, bool) {
	end := skipValue(s.src, i)
	if end == i {
		s.failed = true // no value here: not JSON after all
		return len(s.src), false
	}
	var cur string
	haveText := false
	for t := targeted; t != 0; t &= t - 1 {
		act := s.tp.fields[trailingZeros(t)].act
		switch {
		case act.kind == config.MaskDrop:
			return end, true
		case act.kind == config.MaskRedact:
			cur, haveText = RedactToken, true
		default:
			if !haveText {
				var ok bool
				if cur, ok = s.text(i, end); !ok {
					s.failed = true
					return end, false
				}
				haveText = true
			}
			start := len(s.texts)
			s.texts = s.p.appendMaskString(s.texts, act, cur)
			cur = jsontext.View(s.texts[start:])
		}
	}
	s.replace(i, end, cur)
	return end, false
}

// text is the text a rule masks, as Apply's text gives it: a string's
// value, a number or literal as written; an object or array has none here.
func (s *splicer) text(i, end int) (string, bool) {
	switch s.src[i] {
	case '{', '[':
		return "", false
	case '"':
		if end-1 <= i || s.src[end-1] != '"' {
			return "", false // unterminated: not JSON after all
		}
		raw := s.src[i+1 : end-1]
		if !hasBackslash(raw) {
			return jsontext.View(raw), true
		}
		var ok bool
		s.str, ok = jsontext.AppendUnescaped(s.str[:0], raw)
		return jsontext.View(s.str), ok
	}
	return jsontext.View(s.src[i:end]), true
}

// scan runs the detectors over the string at [i, end).
func (s *splicer) scan(i, end int, escaped bool) {
	raw := s.src[i+1 : end-1]
	text := jsontext.View(raw)
	if escaped {
		var ok bool
		if s.str, ok = jsontext.AppendUnescaped(s.str[:0], raw); !ok {
			s.failed = true
			return
		}
		text = jsontext.View(s.str)
	}
	start := len(s.texts)
	if out, changed := s.p.scanString(s.texts, text, s.tp, &s.hits); changed {
		s.texts = out
		s.replace(i, end, jsontext.View(out[start:]))
	}
}

// replace writes text as a JSON string in place of src[i:end].
func (s *splicer) replace(i, end int, text string) {
	s.out = append(s.out, s.src[s.copied:i]...)
	s.out = jsontext.AppendString(s.out, text)
	s.copied = end
}

// cut leaves src[i:end] out.
func (s *splicer) cut(i, end int) {
	s.out = append(s.out, s.src[s.copied:i]...)
	s.copied = end
}

// object walks the members of the object at i.
func (s *splicer) object(i, depth int, alive uint64) int {
	c := container{lastKept: -1, pending: -1}
	for i++; ; {
		var closed bool
		if i, closed = c.next(s, i, '}'); closed {
			return i
		}
		nameAt := i
		nameEnd, escaped := stringEnd(s.src, i)
		if s.src[i] != '"' || nameEnd-1 <= i || s.src[nameEnd-1] != '"' {
			s.failed = true // not JSON after all
			return len(s.src)
		}
		name := jsontext.View(s.src[i+1 : nameEnd-1])
		if escaped {
			var ok bool
			if s.key, ok = jsontext.AppendUnescaped(s.key[:0], s.src[i+1:nameEnd-1]); !ok {
				s.failed = true
				return skipValue(s.src, nameAt)
			}
			name = jsontext.View(s.key)
		}
		i = skipSpace(s.src, nameEnd)
		i = skipSpace(s.src, i+1) // past ':'
		child := s.match(alive, depth, func(seg string) bool { return seg == "*" || seg == name })
		i = c.member(s, nameAt, i, depth+1, child)
	}
}

// array is object for the elements of the array at i.
func (s *splicer) array(i, depth int, alive uint64) int {
	c := container{lastKept: -1, pending: -1}
	for n, i := 0, i+1; ; n++ {
		var closed bool
		if i, closed = c.next(s, i, ']'); closed {
			return i
		}
		child := s.match(alive, depth, func(seg string) bool {
			k, ok := segIndex(seg)
			return seg == "*" || (ok && k == n)
		})
		i = c.member(s, i, i, depth+1, child)
	}
}

// container cuts the dropped members (or elements) of an object (or
// array) out with the right comma: a dropped one goes with the comma
// before it when a kept one precedes it, otherwise with everything up to
// the next kept one (or the closing bracket).
type container struct {
	lastKept int // end of the last kept member, or -1
	pending  int // start of dropped members not cut yet, or -1
}

// member handles the member that starts at at (its name, for an
// object) with its value at v, and returns the value's end.
func (c *container) member(s *splicer, at, v, depth int, alive uint64) int {
	if s.drops(alive, depth) {
		end := skipValue(s.src, v)
		if end == v {
			s.failed = true // no value here: not JSON after all
			return len(s.src)
		}
		if c.lastKept >= 0 {
			s.cut(c.lastKept, end)
		} else if c.pending < 0 {
			c.pending = at
		}
		return end
	}
	if c.pending >= 0 {
		s.cut(c.pending, at)
		c.pending = -1
	}
	end, _ := s.element(v, depth, alive)
	c.lastKept = end
	return end
}

// next skips space and a comma to the next member at or after i; at the
// closing bracket it cuts what is pending and returns the end, closed.
func (c *container) next(s *splicer, i int, closer byte) (int, bool) {
	i = skipSpace(s.src, i)
	if i < len(s.src) && s.src[i] == ',' {
		i = skipSpace(s.src, i+1)
	}
	if i >= len(s.src) {
		s.failed = true // not JSON after all
		return len(s.src), true
	}
	if s.src[i] != closer {
		return i, false
	}
	if c.pending >= 0 {
		s.cut(c.pending, i)
	}
	return i + 1, true
}

// match keeps the rules of alive whose segment at depth the step takes.
func (s *splicer) match(alive uint64, depth int, takes func(seg string) bool) uint64 {
	var child uint64
	for a := alive; a != 0; a &= a - 1 {
		r := trailingZeros(a)
		if segs := s.tp.fields[r].path.segs; len(segs) > depth && takes(segs[depth]) {
			child |= 1 << r
		}
	}
	return child
}

// drops says whether a rule of alive that ends at depth drops the value.
func (s *splicer) drops(alive uint64, depth int) bool {
	for a := alive; a != 0; a &= a - 1 {
		r := s.tp.fields[trailingZeros(a)]
		if len(r.path.segs) == depth && r.act.kind == config.MaskDrop {
			return true
		}
	}
	return false
}

func trailingZeros(x uint64) int { return bits.TrailingZeros64(x) }

func hasBackslash(b []byte) bool { return bytes.IndexByte(b, '\\') >= 0 }

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the end of the string whose opening quote is at i,
// just past its closing quote, and whether it holds an escape: one pass,
// eight bytes at a time over plain characters.
func stringEnd(b []byte, i int) (end int, escaped bool) {
	for j := i + 1; ; {
		for j+8 <= len(b) && jsontext.Plain8(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		for j < len(b) && b[j] != '"' && b[j] != '\\' {
			j++
		}
		switch {
		case j >= len(b):
			return len(b), true // unterminated
		case b[j] == '"':
			return j + 1, escaped
		}
		escaped = true
		j += 2 // the backslash and the byte it escapes
	}
}

// skipValue returns the end of the value that starts at i.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := stringEnd(b, j)
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && !valueEnds[b[j]] {
		j++
	}
	return j
}

// valueEnds marks the bytes that end a number or literal.
var valueEnds = [256]bool{',': true, '}': true, ']': true, ' ': true, '\t': true, '\n': true, '\r': true}
