package mask

import (
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
	// No path is empty, so no rule ends at the root.
	if s.element(jsontext.SkipSpace(s.src, 0), 0, all, 0); s.failed {
		return dst, false
	}
	s.out = append(s.out, s.src[s.copied:]...)
	return s.out, true
}

// element handles the value at i, reached by a path of depth segments
// that the rules in alive match so far, of which targeted end there (and
// none drops it: the caller cuts a dropped value). It returns the value's
// end.
func (s *splicer) element(i, depth int, alive, targeted uint64) int {
	if i >= len(s.src) {
		s.failed = true // not JSON after all
		return len(s.src)
	}
	if targeted != 0 {
		return s.masked(i, targeted)
	}
	deeper := alive != 0 || len(s.tp.detectors) > 0
	switch c := s.src[i]; {
	case c == '{' && deeper:
		return s.object(i, depth, alive)
	case c == '[' && deeper:
		return s.array(i, depth, alive)
	}
	end, escaped := s.valueEnd(i)
	if !s.failed && s.src[i] == '"' && len(s.tp.detectors) > 0 {
		s.scan(i, end, escaped)
	}
	return end
}

// valueEnd returns the end of the value at i and, for a string, whether
// it holds an escape; text that is not JSON after all fails the splice.
func (s *splicer) valueEnd(i int) (end int, escaped bool) {
	if i < len(s.src) && s.src[i] == '"' {
		end, escaped, ok := stringEnd(s.src, i)
		if !ok {
			s.failed = true
			return len(s.src), false
		}
		return end, escaped
	}
	if end = skipValue(s.src, i); end == i {
		s.failed = true
		return len(s.src), false
	}
	return end, false
}

// masked applies the targeted rules, in the policy's order, to the value
// at i, each rule masking what the one before it left.
func (s *splicer) masked(i int, targeted uint64) int {
	end, escaped := s.valueEnd(i)
	if s.failed {
		return end
	}
	var cur string
	haveText := false
	for t := targeted; t != 0; t &= t - 1 {
		act := s.tp.fields[bits.TrailingZeros64(t)].act
		if act.kind == config.MaskRedact {
			cur, haveText = RedactToken, true
			continue
		}
		if !haveText {
			var ok bool
			if cur, ok = s.text(i, end, escaped); !ok {
				s.failed = true
				return end
			}
			haveText = true
		}
		start := len(s.texts)
		s.texts = s.p.appendMaskString(s.texts, act, cur)
		cur = jsontext.View(s.texts[start:])
	}
	s.replace(i, end, cur)
	return end
}

// text is the text a rule masks, as Apply's text gives it: a string's
// value, a number or literal as written; an object or array has none here.
func (s *splicer) text(i, end int, escaped bool) (string, bool) {
	switch s.src[i] {
	case '{', '[':
		return "", false
	case '"':
		return unquote(&s.str, s.src[i+1:end-1], escaped)
	}
	return jsontext.View(s.src[i:end]), true
}

// scan runs the detectors over the string at [i, end).
func (s *splicer) scan(i, end int, escaped bool) {
	text, ok := unquote(&s.str, s.src[i+1:end-1], escaped)
	if !ok {
		s.failed = true
		return
	}
	start := len(s.texts)
	if out, changed := s.p.scanString(s.texts, text, s.tp, &s.hits); changed {
		s.texts = out
		s.replace(i, end, jsontext.View(out[start:]))
	}
}

// unquote is the value of the string body raw: raw itself without
// escapes, else unescaped into buf. ok is false for an escape left to
// encoding/json (see jsontext.AppendUnescaped).
func unquote(buf *[]byte, raw []byte, escaped bool) (string, bool) {
	if !escaped {
		return jsontext.View(raw), true
	}
	var ok bool
	*buf, ok = jsontext.AppendUnescaped((*buf)[:0], raw)
	return jsontext.View(*buf), ok
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
		if s.src[i] != '"' {
			s.failed = true // not JSON after all
			return len(s.src)
		}
		nameEnd, escaped := s.valueEnd(i)
		if s.failed {
			return nameEnd
		}
		name, ok := unquote(&s.key, s.src[i+1:nameEnd-1], escaped)
		if !ok {
			s.failed = true
			return len(s.src)
		}
		i = jsontext.SkipSpace(s.src, nameEnd)
		i = jsontext.SkipSpace(s.src, i+1) // past ':'
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
	targeted := s.ending(alive, depth)
	if s.drops(targeted) {
		end, _ := s.valueEnd(v)
		if s.failed {
			return end
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
	end := s.element(v, depth, alive, targeted)
	c.lastKept = end
	return end
}

// next skips space and a comma to the next member at or after i; at the
// closing bracket it cuts what is pending and returns the end, closed.
func (c *container) next(s *splicer, i int, closer byte) (int, bool) {
	i = jsontext.SkipSpace(s.src, i)
	if i < len(s.src) && s.src[i] == ',' {
		i = jsontext.SkipSpace(s.src, i+1)
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
		r := bits.TrailingZeros64(a)
		if segs := s.tp.fields[r].path.segs; len(segs) > depth && takes(segs[depth]) {
			child |= 1 << r
		}
	}
	return child
}

// ending keeps the rules of alive whose path ends at depth.
func (s *splicer) ending(alive uint64, depth int) uint64 {
	var ends uint64
	for a := alive; a != 0; a &= a - 1 {
		if r := bits.TrailingZeros64(a); len(s.tp.fields[r].path.segs) == depth {
			ends |= 1 << r
		}
	}
	return ends
}

// drops says whether one of rules drops the value: then it goes,
// whatever the others would make of it.
func (s *splicer) drops(rules uint64) bool {
	for r := rules; r != 0; r &= r - 1 {
		if s.tp.fields[bits.TrailingZeros64(r)].act.kind == config.MaskDrop {
			return true
		}
	}
	return false
}

// stringEnd returns the end of the string whose opening quote is at i,
// just past its closing quote, and whether it holds an escape: one pass,
// eight bytes at a time over plain characters. ok is false when the
// string does not end.
func stringEnd(b []byte, i int) (end int, escaped, ok bool) {
	for j := i + 1; ; {
		j = jsontext.SpecialIndex(b, j)
		switch {
		case j >= len(b):
			return len(b), true, false
		case b[j] == '"':
			return j + 1, escaped, true
		case b[j] == '\\':
			escaped = true
			j += 2 // the backslash and the byte it escapes
		default:
			j++ // a control character: the reader refuses it, not this
		}
	}
}

// skipValue returns the end of the value that starts at i.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		end, _, _ := stringEnd(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _, _ := stringEnd(b, j)
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
