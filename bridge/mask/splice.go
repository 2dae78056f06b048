package mask

import (
	"math/bits"
	"strconv"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// splicer masks an event in its own text: one walk along its tape keeps
// the path of every value in view, and the output is the input with the
// masked values' spans replaced and dropped members cut out, everything
// else copied in bulk. Writing the whole document back from a tree was
// most of masking's cost. Members keep their order and the partner's
// spacing stays; the document is the one Apply gives (FuzzSpliceMatchesApply).
//
// It walks the event's tape (jsontext.Tape), which has every value's span
// in the text, so it reads no syntax itself. Where the result would need
// the text of a whole object or array (a hash or keep_last rule on one) or
// could differ from Apply's (a rule with an array index after one that
// drops an element by index, which shifts the elements in Apply), it gives
// up and Apply masks the document built from the tape.
type splicer struct {
	p      *Policy
	tp     *typePolicy
	t      *jsontext.Tape
	src    []byte
	out    []byte
	copied int // src[:copied] is in out, edited
	failed bool

	str    []byte              // a string's value, when it had escapes
	name   []byte              // a member name's value, when it had escapes
	reader jsontext.TapeReader // for an event given without its tape
	texts  []byte              // a value's text through successive rules
	hits   [][2]int            // the detectors' findings in one string
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
	if s.element(0, 0, all, 0); s.failed {
		return dst, false
	}
	s.out = append(s.out, s.src[s.copied:]...)
	return s.out, true
}

// element handles the value at token v, reached by a path of depth
// segments that the rules in alive match so far, of which targeted end
// there (and none drops it: the caller cuts a dropped value).
func (s *splicer) element(v, depth int, alive, targeted uint64) {
	if targeted != 0 {
		s.masked(v, targeted)
		return
	}
	deeper := alive != 0 || len(s.tp.detectors) > 0
	switch s.t.Kind(v) {
	case jsontext.KindObject:
		if deeper {
			s.object(v, depth, alive)
		}
	case jsontext.KindArray:
		if deeper {
			s.array(v, depth, alive)
		}
	case jsontext.KindString:
		if len(s.tp.detectors) > 0 {
			s.scan(v)
		}
	}
}

// masked applies the targeted rules, in the policy's order, to the value
// at v, each rule masking what the one before it left.
func (s *splicer) masked(v int, targeted uint64) {
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
			if cur, ok = s.text(v); !ok {
				s.failed = true
				return
			}
			haveText = true
		}
		start := len(s.texts)
		s.texts = s.p.appendMaskString(s.texts, act, cur)
		cur = jsontext.View(s.texts[start:])
	}
	s.replace(v, cur)
}

// text is the text a rule masks, as Apply's text gives it: a string's
// value, a number or literal as written; an object or array has none here.
func (s *splicer) text(v int) (string, bool) {
	switch s.t.Kind(v) {
	case jsontext.KindObject, jsontext.KindArray:
		return "", false
	case jsontext.KindString:
		return jsontext.View(s.t.Str(v, &s.str)), true
	}
	return jsontext.View(s.t.Raw(v)), true
}

// scan runs the detectors over the string at v.
func (s *splicer) scan(v int) {
	start := len(s.texts)
	text := jsontext.View(s.t.Str(v, &s.str))
	if out, changed := s.p.scanString(s.texts, text, s.tp, &s.hits); changed {
		s.texts = out
		s.replace(v, jsontext.View(out[start:]))
	}
}

// replace writes text as a JSON string in place of the value at v.
func (s *splicer) replace(v int, text string) {
	i, end := s.t.Span(v)
	s.out = append(s.out, s.src[s.copied:i]...)
	s.out = jsontext.AppendString(s.out, text)
	s.copied = end
}

// cut leaves src[i:end] out.
func (s *splicer) cut(i, end int) {
	s.out = append(s.out, s.src[s.copied:i]...)
	s.copied = end
}

// object walks the members of the object at v.
func (s *splicer) object(v, depth int, alive uint64) {
	c := container{lastKept: -1, pending: -1}
	for j := v + 1; j < s.t.Next(v) && !s.failed; j = s.t.Next(j + 1) {
		name := jsontext.View(s.t.Str(j, &s.name))
		child := s.match(alive, depth, func(seg string) bool { return seg == "*" || seg == name })
		at, _ := s.t.Span(j)
		c.member(s, at, j+1, depth+1, child)
	}
	c.close(s, v)
}

// array is object for the elements of the array at v.
func (s *splicer) array(v, depth int, alive uint64) {
	c := container{lastKept: -1, pending: -1}
	for n, j := 0, v+1; j < s.t.Next(v) && !s.failed; n, j = n+1, s.t.Next(j) {
		child := s.match(alive, depth, func(seg string) bool {
			k, ok := segIndex(seg)
			return seg == "*" || (ok && k == n)
		})
		at, _ := s.t.Span(j)
		c.member(s, at, j, depth+1, child)
	}
	c.close(s, v)
}

// container cuts the dropped members (or elements) of an object (or
// array) out with the right comma: a dropped one goes with the comma
// before it when a kept one precedes it, otherwise with everything up to
// the next kept one (or the closing bracket).
type container struct {
	lastKept int // end of the last kept member, or -1
	pending  int // start of dropped members not cut yet, or -1
}

// member handles the member that starts at at (its name, for an object)
// with its value at token v.
func (c *container) member(s *splicer, at, v, depth int, alive uint64) {
	targeted := s.ending(alive, depth)
	_, end := s.t.Span(v)
	if s.drops(targeted) {
		if c.lastKept >= 0 {
			s.cut(c.lastKept, end)
		} else if c.pending < 0 {
			c.pending = at
		}
		return
	}
	if c.pending >= 0 {
		s.cut(c.pending, at)
		c.pending = -1
	}
	s.element(v, depth, alive, targeted)
	c.lastKept = end
}

// close cuts what is pending up to the closing bracket of the container
// at v.
func (c *container) close(s *splicer, v int) {
	if _, end := s.t.Span(v); c.pending >= 0 {
		s.cut(c.pending, end-1)
	}
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
