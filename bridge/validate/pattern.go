package validate

import (
	"regexp"
	"regexp/syntax"
)

// shortPattern matches the patterns event schemas are made of —
// ^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$, ^(0[1-9]|1[0-2])/[0-9]{2}$ — on short
// ASCII strings, with the set of reachable string positions held in one
// uint64 and each character class applied to all of them by one shift.
// Go's one-pass matcher took a sixth of validating an event; this is a
// few dozen instructions per pattern, and linear whatever the input, like
// the regexp package.
//
// Only patterns anchored at both ends, over ASCII classes and literals,
// with concatenation, alternation, groups and bounded or unbounded
// repetition, compile; anything else keeps regexp. Strings longer than
// maxShortLen or not ASCII are left to regexp too.
type shortPattern struct {
	root *patNode
	sets [][256]bool // each class node's byte set, by node id
}

// maxShortLen is the longest string a position set in a uint64 covers
// (positions 0 to len).
const maxShortLen = 63

type patOp uint8

const (
	patSet patOp = iota // one byte of a class
	patSeq
	patAlt
	patRep
	patEmpty
)

type patNode struct {
	op       patOp
	set      int // index in sets, for patSet
	subs     []*patNode
	min, max int // for patRep; max -1 = unbounded
}

// compileShort returns the fast matcher of re, or nil.
func compileShort(re *regexp.Regexp) *shortPattern {
	if re == nil {
		return nil
	}
	ast, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil
	}
	if ast.Op != syntax.OpConcat || len(ast.Sub) < 2 ||
		ast.Sub[0].Op != syntax.OpBeginText || ast.Sub[len(ast.Sub)-1].Op != syntax.OpEndText {
		return nil
	}
	sp := &shortPattern{}
	seq := &patNode{op: patSeq}
	for _, sub := range ast.Sub[1 : len(ast.Sub)-1] {
		n := sp.node(sub)
		if n == nil {
			return nil
		}
		seq.subs = append(seq.subs, n)
	}
	sp.root = seq
	return sp
}

func (sp *shortPattern) node(re *syntax.Regexp) *patNode {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return &patNode{op: patEmpty}
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		seq := &patNode{op: patSeq}
		for _, r := range re.Rune {
			if r >= 0x80 {
				return nil
			}
			seq.subs = append(seq.subs, sp.setOf(func(c byte) bool { return rune(c) == r }))
		}
		return seq
	case syntax.OpCharClass:
		ranges := re.Rune
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i+1] >= 0x80 {
				return nil // a class reaching beyond ASCII would match multi-byte runes
			}
		}
		return sp.setOf(func(c byte) bool {
			for i := 0; i+1 < len(ranges); i += 2 {
				if rune(c) >= ranges[i] && rune(c) <= ranges[i+1] {
					return true
				}
			}
			return false
		})
	case syntax.OpCapture:
		return sp.node(re.Sub[0])
	case syntax.OpConcat, syntax.OpAlternate:
		n := &patNode{op: patSeq}
		if re.Op == syntax.OpAlternate {
			n.op = patAlt
		}
		for _, sub := range re.Sub {
			c := sp.node(sub)
			if c == nil {
				return nil
			}
			n.subs = append(n.subs, c)
		}
		return n
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		c := sp.node(re.Sub[0])
		if c == nil {
			return nil
		}
		n := &patNode{op: patRep, subs: []*patNode{c}, min: re.Min, max: re.Max}
		switch re.Op {
		case syntax.OpStar:
			n.min, n.max = 0, -1
		case syntax.OpPlus:
			n.min, n.max = 1, -1
		case syntax.OpQuest:
			n.min, n.max = 0, 1
		}
		return n
	}
	// Anchors inside, word boundaries, any-character (matches non-ASCII
	// runes), …: regexp decides.
	return nil
}

func (sp *shortPattern) setOf(in func(byte) bool) *patNode {
	var set [256]bool
	for c := 0; c < 0x80; c++ {
		set[c] = in(byte(c))
	}
	sp.sets = append(sp.sets, set)
	return &patNode{op: patSet, set: len(sp.sets) - 1}
}

// match reports whether s matches; ok is false when s is too long or not
// ASCII, and regexp must decide.
func (sp *shortPattern) match(s []byte) (matched, ok bool) {
	if len(s) > maxShortLen {
		return false, false
	}
	for _, c := range s {
		if c >= 0x80 {
			return false, false
		}
	}
	m := shortMatch{sp: sp, s: s}
	return m.step(sp.root, 1)&(1<<len(s)) != 0, true
}

type shortMatch struct {
	sp *shortPattern
	s  []byte
	// masks[i] has bit p set where s[p] is in set i, computed on first
	// use (known says which), so a repeated class costs a shift per
	// repetition.
	masks [16]uint64
	known uint16
}

// mask is the positions of s whose byte is in set i.
func (m *shortMatch) mask(i int) uint64 {
	if i < len(m.masks) && m.known&(1<<i) != 0 {
		return m.masks[i]
	}
	set := &m.sp.sets[i]
	var mask uint64
	for p, c := range m.s {
		if set[c] {
			mask |= 1 << p
		}
	}
	if i < len(m.masks) {
		m.masks[i], m.known = mask, m.known|1<<i
	}
	return mask
}

// step returns the positions reachable from those in reach by matching n.
func (m *shortMatch) step(n *patNode, reach uint64) uint64 {
	switch n.op {
	case patSet:
		// From p, one byte in the set leads to p+1; s has at most 63
		// bytes, so the shift cannot lose a position.
		return (reach & m.mask(n.set)) << 1
	case patSeq:
		for _, c := range n.subs {
			if reach == 0 {
				return 0
			}
			reach = m.step(c, reach)
		}
		return reach
	case patAlt:
		var out uint64
		for _, c := range n.subs {
			out |= m.step(c, reach)
		}
		return out
	case patRep:
		return m.repeat(n, reach)
	}
	return reach // patEmpty
}

// repeat is the union of n's sub matched min to max times. A position
// reached again adds nothing: it was already expanded with at least as
// many repetitions left, so only new positions go on.
func (m *shortMatch) repeat(n *patNode, reach uint64) uint64 {
	sub := n.subs[0]
	cur := reach
	for range n.min {
		if cur = m.step(sub, cur); cur == 0 {
			return 0
		}
	}
	out := cur
	for i := n.min; n.max < 0 || i < n.max; i++ {
		cur = m.step(sub, cur) &^ out
		if cur == 0 {
			break
		}
		out |= cur
	}
	return out
}
