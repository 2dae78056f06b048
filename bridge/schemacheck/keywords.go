package schemacheck

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// The comparison of each keyword group between an old and a new schema
// object, called by cmp.schema for every schema pair it walks.

func isTrue(s any) bool {
	if b, ok := s.(bool); ok {
		return b
	}
	m, ok := s.(map[string]any)
	if !ok {
		return false
	}
	for k := range m {
		switch k {
		case "$schema", "$id", "$comment", "$defs", "definitions", "title", "description", "examples", "default", "deprecated", "$anchor":
		default:
			return false
		}
	}
	return true
}

func isFalse(s any) bool { b, ok := s.(bool); return ok && !b }

func asMap(s any) (map[string]any, bool) {
	if m, ok := s.(map[string]any); ok {
		return m, true
	}
	if b, ok := s.(bool); ok && b {
		return map[string]any{}, true
	}
	return nil, false
}

// typeSet reads "type" as a set; nil means any type.
func typeSet(m map[string]any) map[string]bool {
	v, ok := m["type"]
	if !ok {
		return nil
	}
	set := map[string]bool{}
	switch t := v.(type) {
	case string:
		set[t] = true
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				set[s] = true
			}
		}
	}
	return set
}

func (c *cmp) types(ptr string, om, nm map[string]any) {
	nt := typeSet(nm)
	if nt == nil {
		return
	}
	ot := typeSet(om)
	if ot == nil {
		c.add(ptr+"/type", "type-narrowed", "the new version requires type %s where the old version took any type", setString(nt))
		return
	}
	var lost []string
	for t := range ot {
		if nt[t] || t == "integer" && nt["number"] {
			continue
		}
		lost = append(lost, t)
	}
	if len(lost) > 0 {
		sort.Strings(lost)
		c.add(ptr+"/type", "type-narrowed", "type %s no longer accepted (was %s, now %s)", strings.Join(lost, ", "), setString(ot), setString(nt))
	}
}

func setString(s map[string]bool) string {
	var l []string
	for k := range s {
		l = append(l, k)
	}
	sort.Strings(l)
	return strings.Join(l, "|")
}

// values reads enum/const as a list; ok is false when neither is set.
func values(m map[string]any) ([]any, bool) {
	if v, ok := m["const"]; ok {
		return []any{v}, true
	}
	if v, ok := m["enum"].([]any); ok {
		return v, true
	}
	return nil, false
}

func (c *cmp) enum(ptr string, om, nm map[string]any) {
	nv, ok := values(nm)
	if !ok {
		return
	}
	kw := "/enum"
	if _, isConst := nm["const"]; isConst {
		kw = "/const"
	}
	ov, ok := values(om)
	if !ok {
		c.add(ptr+kw, "enum-narrowed", "the new version allows only %d value(s) where the old version allowed any", len(nv))
		return
	}
	for _, o := range ov {
		found := false
		for _, n := range nv {
			if jsonEqual(o, n) {
				found = true
				break
			}
		}
		if !found {
			c.add(ptr+kw, "enum-narrowed", "value %s no longer allowed", short(o))
		}
	}
}

func jsonEqual(a, b any) bool {
	fa, aok := a.(float64)
	fb, bok := b.(float64)
	if aok && bok {
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func short(v any) string {
	s := fmt.Sprintf("%#v", v)
	if str, ok := v.(string); ok {
		s = strconv.Quote(str)
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

func (c *cmp) strings(ptr string, om, nm map[string]any) {
	if np, ok := nm["pattern"].(string); ok {
		if op, ok := om["pattern"].(string); !ok {
			c.add(ptr+"/pattern", "pattern-changed", "the new version adds pattern %q", np)
		} else if op != np {
			c.add(ptr+"/pattern", "pattern-changed", "pattern changed from %q to %q; cannot prove the new one accepts every string the old one did", op, np)
		}
	}
	if nf, ok := nm["format"].(string); ok {
		if of, ok := om["format"].(string); !ok {
			c.add(ptr+"/format", "format-changed", "the new version adds format %q", nf)
		} else if of != nf {
			c.add(ptr+"/format", "format-changed", "format changed from %q to %q", of, nf)
		}
	}
	c.lower(ptr, "minLength", om, nm)
	c.upper(ptr, "maxLength", om, nm)
}

func num(m map[string]any, k string) (float64, bool) {
	f, ok := m[k].(float64)
	return f, ok
}

// lower: the new lower bound must not be above the old one.
func (c *cmp) lower(ptr, kw string, om, nm map[string]any) {
	c.narrowing(ptr, kw, om, nm, "raised", func(o, n float64) bool { return n > o })
}

// upper: the new upper bound must not be below the old one.
func (c *cmp) upper(ptr, kw string, om, nm map[string]any) {
	c.narrowing(ptr, kw, om, nm, "lowered", func(o, n float64) bool { return n < o })
}

// narrowing reports a numeric keyword the new version adds, or moves the way
// narrowed says (named by moved).
func (c *cmp) narrowing(ptr, kw string, om, nm map[string]any, moved string, narrowed func(o, n float64) bool) {
	n, ok := num(nm, kw)
	if !ok {
		return
	}
	o, ok := num(om, kw)
	switch {
	case !ok:
		c.add(ptr+"/"+kw, "bound-narrowed", "the new version adds %s %v", kw, n)
	case narrowed(o, n):
		c.add(ptr+"/"+kw, "bound-narrowed", "%s %s from %v to %v", kw, moved, o, n)
	}
}

// bound is a numeric limit with its exclusivity.
type bound struct {
	v    float64
	excl bool
	set  bool
}

func lowerBound(m map[string]any) bound {
	b := bound{v: math.Inf(-1)}
	if v, ok := num(m, "minimum"); ok {
		b = bound{v: v, set: true}
	}
	if v, ok := num(m, "exclusiveMinimum"); ok && (!b.set || v >= b.v) {
		b = bound{v: v, excl: true, set: true}
	}
	return b
}

func upperBound(m map[string]any) bound {
	b := bound{v: math.Inf(1)}
	if v, ok := num(m, "maximum"); ok {
		b = bound{v: v, set: true}
	}
	if v, ok := num(m, "exclusiveMaximum"); ok && (!b.set || v <= b.v) {
		b = bound{v: v, excl: true, set: true}
	}
	return b
}

func (c *cmp) numbers(ptr string, om, nm map[string]any) {
	ol, nl := lowerBound(om), lowerBound(nm)
	if nl.set && (nl.v > ol.v || nl.v == ol.v && nl.excl && !ol.excl) {
		c.add(ptr+"/minimum", "bound-narrowed", "lower bound raised from %s to %s", boundString(ol, ">"), boundString(nl, ">"))
	}
	ou, nu := upperBound(om), upperBound(nm)
	if nu.set && (nu.v < ou.v || nu.v == ou.v && nu.excl && !ou.excl) {
		c.add(ptr+"/maximum", "bound-narrowed", "upper bound lowered from %s to %s", boundString(ou, "<"), boundString(nu, "<"))
	}
	if n, ok := num(nm, "multipleOf"); ok {
		o, ok := num(om, "multipleOf")
		if !ok || o/n != math.Trunc(o/n) {
			c.add(ptr+"/multipleOf", "bound-narrowed", "multipleOf %v does not divide every value the old version allowed", n)
		}
	}
}

func boundString(b bound, op string) string {
	if !b.set {
		return "none"
	}
	if !b.excl {
		op += "="
	}
	return op + strconv.FormatFloat(b.v, 'g', -1, 64)
}

func requiredSet(m map[string]any) map[string]bool {
	set := map[string]bool{}
	if r, ok := m["required"].([]any); ok {
		for _, x := range r {
			if s, ok := x.(string); ok {
				set[s] = true
			}
		}
	}
	return set
}

func (c *cmp) objects(ptr string, om, nm map[string]any) {
	or, nr := requiredSet(om), requiredSet(nm)
	var added []string
	for k := range nr {
		if !or[k] {
			added = append(added, k)
		}
	}
	sort.Strings(added)
	for _, k := range added {
		c.add(ptr+"/required", "required-added", "property %q is now required", k)
	}
	c.lower(ptr, "minProperties", om, nm)
	c.upper(ptr, "maxProperties", om, nm)

	oprops, _ := om["properties"].(map[string]any)
	nprops, _ := nm["properties"].(map[string]any)
	oadd, hasOAdd := om["additionalProperties"]
	nadd, hasNAdd := nm["additionalProperties"]
	if !hasOAdd {
		oadd = true
	}
	if !hasNAdd {
		nadd = true
	}
	names := map[string]bool{}
	for k := range oprops {
		names[k] = true
	}
	for k := range nprops {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		p := ptr + "/properties/" + esc(k)
		ov, inOld := oprops[k]
		nv, inNew := nprops[k]
		switch {
		case inOld && inNew:
			c.schema(p, ov, nv)
		case inOld && !inNew:
			// The old version described it; the new one leaves it to
			// additionalProperties.
			if isFalse(nadd) {
				c.add(p, "property-removed", "property %q removed while additional properties are not allowed", k)
			} else {
				c.schema(p, ov, nadd)
			}
		case !inOld && inNew:
			// Events may have carried it under the old additionalProperties.
			c.schema(p, oadd, nv)
		}
	}
	// What neither names falls to additionalProperties on both sides.
	if hasNAdd || hasOAdd {
		if isFalse(nadd) && !isFalse(oadd) {
			c.add(ptr+"/additionalProperties", "additional-properties-closed", "the new version rejects properties it does not name")
		} else if !isFalse(oadd) {
			c.schema(ptr+"/additionalProperties", oadd, nadd)
		}
	}
}

func (c *cmp) arrays(ptr string, om, nm map[string]any) {
	c.lower(ptr, "minItems", om, nm)
	c.upper(ptr, "maxItems", om, nm)
	if nu, _ := nm["uniqueItems"].(bool); nu {
		if ou, _ := om["uniqueItems"].(bool); !ou {
			c.add(ptr+"/uniqueItems", "bound-narrowed", "the new version requires unique items")
		}
	}
	ni, hasN := nm["items"]
	if !hasN {
		return
	}
	oi, hasO := om["items"]
	if !hasO {
		oi = true
	}
	c.schema(ptr+"/items", oi, ni)
}
