package mask

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// treeMask is the per-call state of AppendMasked: the arena that holds
// replacement values, the replacements the policy produced (detectors
// skip them, as they skip Masked), and a stack of members being sorted.
//
// A replacement is a placeholder value standing for a masked string. It
// is made as a number carrying the text, because fastjson's only string
// constructor escapes its text into the arena and every read unescapes
// it again; the placeholder is never read as a number: every reader here
// asks replacement first.
type treeMask struct {
	parser   fastjson.Parser
	arena    fastjson.Arena
	replaced []replacement
	members  []member
	dropped  []string
	texts    []byte   // the replacements' texts, back to back
	hits     [][2]int // the detectors' findings in one string
}

type replacement struct {
	v    *fastjson.Value
	text string
}

// replace makes the placeholder of a masked string.
func (m *treeMask) replace(text string) *fastjson.Value {
	v := m.arena.NewNumberString(text)
	m.replaced = append(m.replaced, replacement{v, text})
	return v
}

// replacement returns the masked text v stands for, if it is a placeholder.
func (m *treeMask) replacement(v *fastjson.Value) (string, bool) {
	for _, r := range m.replaced {
		if r.v == v {
			return r.text, true
		}
	}
	return "", false
}

type member struct {
	key string
	v   *fastjson.Value
}

// AppendMasked masks the event src for eventType and appends it to dst.
// t is src's tape, as the stage read it, or nil; src must be JSON that
// encoding/json reads. Nearly every event is masked in its own text along
// its tape (splicer); what the splicer gives up on is parsed by fastjson
// and masked in the tree (appendMaskedTree). Either way the document is
// the one Apply gives for the same event decoded by encoding/json: Apply
// is the reference, and the way of an event that has no tape.
func (p *Policy) AppendMasked(dst []byte, eventType string, src []byte, t *jsontext.Tape) []byte {
	tp := p.forType(eventType)
	if tp.splice {
		s, _ := p.splicers.Get().(*splicer)
		if s == nil {
			s = new(splicer)
		}
		if t == nil {
			t = s.reader.Read(src)
		}
		if t == nil {
			p.splicers.Put(s)
			return p.appendApplied(dst, eventType, src)
		}
		*s = splicer{p: p, tp: tp, t: t, src: src, reader: s.reader, str: s.str[:0], texts: s.texts[:0], hits: s.hits[:0]}
		out, ok := s.splice(dst)
		s.p, s.tp, s.t, s.src, s.out = nil, nil, nil, nil, nil
		s.reader.Release()
		p.splicers.Put(s)
		if ok {
			return out
		}
	}
	m, _ := p.trees.Get().(*treeMask)
	if m == nil {
		m = new(treeMask)
	}
	defer p.trees.Put(m)
	doc, err := m.parser.ParseBytes(src)
	if err != nil {
		return p.appendApplied(dst, eventType, src)
	}
	return p.appendMaskedTree(dst, m, tp, doc)
}

// appendApplied masks src decoded by encoding/json, the reference way.
// src that does not decode is not an event the stage passes on; it is
// written as the empty document rather than unmasked.
func (p *Policy) appendApplied(dst []byte, eventType string, src []byte) []byte {
	var doc any
	d := json.NewDecoder(bytes.NewReader(src))
	d.UseNumber()
	if d.Decode(&doc) != nil {
		return append(dst, "null"...)
	}
	return Append(dst, p.Apply(eventType, doc))
}

// appendMaskedTree masks doc, a tree parsed by fastjson, by the type's
// policy tp and appends it as JSON. doc is modified. The result is byte for byte what
// Append writes for the same document decoded and masked by Apply
// (TestAppendMaskedMatchesApply, FuzzAppendMaskedMatchesApply).
func (p *Policy) appendMaskedTree(dst []byte, m *treeMask, tp *typePolicy, doc *fastjson.Value) []byte {
	defer func() {
		m.arena.Reset()
		clear(m.replaced)
		m.replaced = m.replaced[:0]
		m.texts = m.texts[:0]
	}()
	for _, r := range tp.fields {
		doc = m.visit(doc, r.path.segs, func(v *fastjson.Value) (*fastjson.Value, bool) {
			if r.act.kind == config.MaskDrop {
				return nil, false
			}
			if r.act.kind == config.MaskRedact {
				return m.replace(RedactToken), true
			}
			start := len(m.texts)
			m.texts = p.appendMaskString(m.texts, r.act, m.text(v))
			return m.replace(jsontext.View(m.texts[start:])), true
		})
	}
	if len(tp.detectors) > 0 {
		doc = m.scan(p, doc, tp)
	}
	return m.appendTree(dst, doc)
}

// visit is visit for a tree: fn's result replaces each value the path
// reaches, keep=false removes it.
func (m *treeMask) visit(node *fastjson.Value, segs []string, fn func(*fastjson.Value) (*fastjson.Value, bool)) *fastjson.Value {
	if len(segs) == 0 {
		return node
	}
	seg, rest := segs[0], segs[1:]
	switch node.Type() {
	case fastjson.TypeObject:
		o, _ := node.Object()
		if seg != "*" {
			if v := o.Get(seg); v != nil {
				m.visitMember(o, seg, v, rest, fn, false)
			}
			return node
		}
		start := len(m.dropped)
		o.Visit(func(k []byte, v *fastjson.Value) { m.visitMember(o, jsontext.View(k), v, rest, fn, true) })
		for _, k := range m.dropped[start:] {
			o.Del(k)
		}
		m.dropped = m.dropped[:start]
	case fastjson.TypeArray:
		a := node.GetArray()
		if seg == "*" {
			// Backwards, so a removal does not move what is still to come.
			for i := len(a) - 1; i >= 0; i-- {
				m.visitElement(node, a, i, rest, fn)
			}
			return node
		}
		i, err := strconv.Atoi(seg)
		if err == nil && i >= 0 && i < len(a) {
			m.visitElement(node, a, i, rest, fn)
		}
	}
	return node
}

// visitMember replaces or removes member k of o. Inside o.Visit
// (deferDrop) replacing is safe but removing is not: removals are then
// collected in m.dropped for the caller.
func (m *treeMask) visitMember(o *fastjson.Object, k string, v *fastjson.Value, rest []string, fn func(*fastjson.Value) (*fastjson.Value, bool), deferDrop bool) {
	if len(rest) > 0 {
		if nv := m.visit(v, rest, fn); nv != v {
			o.Set(k, nv)
		}
		return
	}
	nv, keep := fn(v)
	switch {
	case keep:
		o.Set(k, nv)
	case deferDrop:
		m.dropped = append(m.dropped, k)
	default:
		o.Del(k)
	}
}

func (m *treeMask) visitElement(arr *fastjson.Value, a []*fastjson.Value, i int, rest []string, fn func(*fastjson.Value) (*fastjson.Value, bool)) {
	if len(rest) > 0 {
		a[i] = m.visit(a[i], rest, fn)
		return
	}
	nv, keep := fn(a[i])
	if keep {
		a[i] = nv
		return
	}
	arr.Del(strconv.Itoa(i))
}

// scan runs the detectors over every string the policy has not produced.
func (m *treeMask) scan(p *Policy, v *fastjson.Value, tp *typePolicy) *fastjson.Value {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(func(k []byte, c *fastjson.Value) {
			if nc := m.scan(p, c, tp); nc != c {
				o.Set(jsontext.View(k), nc)
			}
		})
	case fastjson.TypeArray:
		a := v.GetArray()
		for i, c := range a {
			a[i] = m.scan(p, c, tp)
		}
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		start := len(m.texts)
		if out, changed := p.scanString(m.texts, jsontext.View(b), tp, &m.hits); changed {
			// A view of m.texts: it only grows during the call, and a
			// growth leaves earlier texts in the old array, still held.
			m.texts = out
			return m.replace(jsontext.View(out[start:]))
		}
	}
	return v
}

// text is text for a tree value; valid until the tree changes.
func (m *treeMask) text(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return jsontext.View(b)
	case fastjson.TypeNumber:
		if t, ok := m.replacement(v); ok {
			return t
		}
		return string(v.MarshalTo(nil))
	}
	return string(m.appendTree(nil, v))
}

// appendTree writes v like Append writes the decoded document: compact,
// members sorted by name, strings escaped by jsontext.AppendString.
func (m *treeMask) appendTree(dst []byte, v *fastjson.Value) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		return m.appendObject(dst, v)
	case fastjson.TypeArray:
		dst = append(dst, '[')
		for i, e := range v.GetArray() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = m.appendTree(dst, e)
		}
		return append(dst, ']')
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return jsontext.AppendString(dst, jsontext.View(b))
	case fastjson.TypeNumber:
		if t, ok := m.replacement(v); ok {
			return jsontext.AppendString(dst, t)
		}
	}
	// Numbers as written, true, false and null.
	return v.MarshalTo(dst)
}

func (m *treeMask) appendObject(dst []byte, v *fastjson.Value) []byte {
	o, _ := v.Object()
	start := len(m.members)
	o.Visit(func(k []byte, e *fastjson.Value) { m.members = append(m.members, member{jsontext.View(k), e}) })
	end := len(m.members)
	sortMembers(m.members[start:end])
	dst = append(dst, '{')
	// By index: nested objects grow m.members and may move it.
	for i := start; i < end; i++ {
		if i > start {
			dst = append(dst, ',')
		}
		dst = jsontext.AppendString(dst, m.members[i].key)
		dst = append(dst, ':')
		dst = m.appendTree(dst, m.members[i].v)
	}
	clear(m.members[start:end])
	m.members = m.members[:start]
	return append(dst, '}')
}

// sortMembers sorts by name, small objects (nearly all) by an insertion
// sort without a comparison function call.
func sortMembers(ms []member) {
	if len(ms) > 16 {
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
		return
	}
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].key < ms[j-1].key; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}
