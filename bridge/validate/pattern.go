package validate

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// patternDFA matches the patterns event schemas are made of —
// ^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$, ^(0[1-9]|1[0-2])/[0-9]{2}$ — on ASCII
// strings with one table lookup per byte. Go's regexp runs a one-pass or
// backtracking machine per call, which took a sixth of validating an
// event; these patterns are small, so their deterministic automaton is
// built once, at schema compile time.
//
// Only patterns anchored at both ends, over ASCII classes and literals,
// with concatenation, alternation, groups and bounded or unbounded
// repetition, compile, and only while the automaton stays below
// maxDFAStates; anything else keeps regexp. A string with a byte beyond
// ASCII is left to regexp too, which reads it as UTF-8.
type patternDFA struct {
	// class groups the bytes no instruction tells apart, so the table
	// has a column per class, not per byte: a few hundred bytes that stay
	// in cache between events, where 256 per state did not.
	class   [0x80]uint8
	classes int
	next    []uint16 // state*classes + class → state; state 0 is dead
	accept  []bool   // by state
	start   uint16
}

// maxDFAStates bounds the table: {11,30} repetitions need a few dozen
// states, and a pattern whose automaton would blow up is better left to
// regexp.
const maxDFAStates = 1024

const deadState = 0

// compileDFA returns the automaton of re, or nil.
func compileDFA(re *regexp.Regexp) *patternDFA {
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
	body := &syntax.Regexp{Op: syntax.OpConcat, Sub: ast.Sub[1 : len(ast.Sub)-1]}
	if !asciiOnly(body) {
		return nil
	}
	prog, err := syntax.Compile(body.Simplify())
	if err != nil {
		return nil
	}
	return buildDFA(prog)
}

// asciiOnly says whether every node of re is one the automaton takes: no
// anchor inside, no word boundary, no any-character (it matches multi-byte
// runes), no class reaching beyond ASCII and no case folding, which
// matches non-ASCII runes too (k and the Kelvin sign).
func asciiOnly(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false
		}
		for _, r := range re.Rune {
			if r >= 0x80 {
				return false
			}
		}
		return true
	case syntax.OpCharClass:
		for i := 1; i < len(re.Rune); i += 2 {
			if re.Rune[i] >= 0x80 {
				return false
			}
		}
		return true
	case syntax.OpCapture, syntax.OpConcat, syntax.OpAlternate,
		syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		for _, sub := range re.Sub {
			if !asciiOnly(sub) {
				return false
			}
		}
		return true
	}
	return false
}

// dfaBuilder turns the program's instructions into states by subset
// construction: a state is the set of rune instructions the program may
// be at, reached over empty moves.
type dfaBuilder struct {
	prog   *syntax.Prog
	ids    map[string]uint16
	states [][]uint32 // the instruction set of each state
	dfa    *patternDFA
}

func buildDFA(prog *syntax.Prog) *patternDFA {
	b := &dfaBuilder{prog: prog, ids: map[string]uint16{}, dfa: &patternDFA{}}
	reps := b.byteClasses()
	b.state(nil) // the dead state, 0
	start, ok := b.state(b.closure([]uint32{uint32(prog.Start)}))
	if !ok {
		return nil
	}
	b.dfa.start = start
	for s := 1; s < len(b.states); s++ { // states grows while it is walked
		for class, c := range reps {
			to, ok := b.state(b.step(b.states[s], rune(c)))
			if !ok {
				return nil
			}
			b.dfa.next[s*len(reps)+class] = to
		}
	}
	return b.dfa
}

// byteClasses fills the automaton's class of each byte, bytes matched by
// the same instructions sharing one, and returns a byte of each class.
func (b *dfaBuilder) byteClasses() []byte {
	var reps []byte
	ids := map[string]uint8{}
	for c := range 0x80 {
		var sig []byte
		for i := range b.prog.Inst {
			in := &b.prog.Inst[i]
			if (in.Op == syntax.InstRune || in.Op == syntax.InstRune1) && in.MatchRune(rune(c)) {
				sig = strconv.AppendInt(append(sig, ','), int64(i), 36)
			}
		}
		id, ok := ids[string(sig)]
		if !ok {
			id = uint8(len(reps)) // at most 128, one per byte
			ids[string(sig)] = id
			reps = append(reps, byte(c))
		}
		b.dfa.class[c] = id
	}
	b.dfa.classes = len(reps)
	return reps
}

// state returns the id of the state with these instructions, adding it
// if it is new; false when there would be too many.
func (b *dfaBuilder) state(pcs []uint32) (uint16, bool) {
	key := pcsKey(pcs)
	if id, ok := b.ids[key]; ok {
		return id, true
	}
	if len(b.states) == maxDFAStates {
		return 0, false
	}
	id := uint16(len(b.states))
	b.ids[key] = id
	b.states = append(b.states, pcs)
	b.dfa.next = append(b.dfa.next, make([]uint16, b.dfa.classes)...)
	b.dfa.accept = append(b.dfa.accept, slices.ContainsFunc(pcs, func(pc uint32) bool {
		return b.prog.Inst[pc].Op == syntax.InstMatch
	}))
	return id, true
}

func pcsKey(pcs []uint32) string {
	var sb strings.Builder
	for _, pc := range pcs {
		sb.WriteString(strconv.FormatUint(uint64(pc), 36))
		sb.WriteByte(',')
	}
	return sb.String()
}

// step is the state after reading c from the instructions pcs.
func (b *dfaBuilder) step(pcs []uint32, c rune) []uint32 {
	var out []uint32
	for _, pc := range pcs {
		if in := &b.prog.Inst[pc]; in.Op != syntax.InstMatch && in.MatchRune(c) {
			out = append(out, in.Out)
		}
	}
	return b.closure(out)
}

// closure follows the empty moves from pcs and returns the rune and match
// instructions reached, sorted, so one set has one key.
func (b *dfaBuilder) closure(pcs []uint32) []uint32 {
	seen := map[uint32]bool{}
	var out []uint32
	var visit func(pc uint32)
	visit = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		in := &b.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			visit(in.Out)
			visit(in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			visit(in.Out)
		case syntax.InstRune, syntax.InstRune1, syntax.InstMatch:
			out = append(out, pc)
		}
		// InstFail leads nowhere; asciiOnly let no other kind through.
	}
	for _, pc := range pcs {
		visit(pc)
	}
	slices.Sort(out)
	return out
}

// match reports whether s matches; ok is false when s is not ASCII, and
// regexp must decide.
func (d *patternDFA) match(s []byte) (matched, ok bool) {
	st := d.start
	for _, c := range s {
		if c >= 0x80 {
			return false, false
		}
		if st = d.next[int(st)*d.classes+int(d.class[c])]; st == deadState {
			// No continuation matches, whatever the rest holds; a
			// non-ASCII byte later would not change regexp's no.
			return false, true
		}
	}
	return d.accept[st], true
}
