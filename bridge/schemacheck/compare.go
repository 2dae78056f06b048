// Package schemacheck tells whether a new version of an event type's JSON
// Schema can reject events the previous version accepted (backward), accept
// events the previous one rejected (forward), or either (full). It reads the
// schema documents themselves, so it is conservative: a change it cannot
// reason about is reported as "cannot prove compatible", never passed.
package schemacheck

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Mode is the compatibility a new schema version must keep.
type Mode string

const (
	// Backward: every event the old version accepted, the new one accepts.
	// This is what partners sending today's events need.
	Backward Mode = "backward"
	// Forward: every event the new version accepts, the old one accepted.
	Forward Mode = "forward"
	// Full is both.
	Full Mode = "full"
)

// ParseMode reads a mode name.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Backward, Forward, Full:
		return Mode(s), nil
	}
	return "", fmt.Errorf("mode %q is not one of backward, forward, full", s)
}

// Finding is one change that breaks compatibility, or that the checker
// cannot prove compatible.
type Finding struct {
	// Pointer is the JSON pointer of the place in the schema, e.g.
	// /properties/customer/required.
	Pointer string `json:"pointer"`
	// Rule names the kind of change: required-added, property-removed,
	// type-narrowed, enum-narrowed, pattern-changed, format-changed,
	// bound-narrowed, additional-properties-closed, unproven.
	Rule string `json:"rule"`
	// Direction is backward when the new version rejects what the old one
	// accepted, forward when it accepts what the old one rejected.
	Direction Mode   `json:"direction"`
	Detail    string `json:"detail"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s (%s): %s", ptrOrRoot(f.Pointer), f.Rule, f.Direction, f.Detail)
}

func ptrOrRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// Compare reports the changes from oldDoc to newDoc that break mode. Both
// are decoded JSON Schema documents (draft 2020-12); local $refs
// ("#/$defs/...") are followed within each document.
func Compare(oldDoc, newDoc any, mode Mode) []Finding {
	var out []Finding
	if mode == Backward || mode == Full {
		c := &cmp{oldRoot: oldDoc, newRoot: newDoc, dir: Backward, seen: map[[2]string]bool{}}
		c.schema("", oldDoc, newDoc)
		out = append(out, c.out...)
	}
	if mode == Forward || mode == Full {
		// The new version accepts only what the old did exactly when the
		// old version, read as "new", is backward compatible with it.
		c := &cmp{oldRoot: newDoc, newRoot: oldDoc, dir: Forward, seen: map[[2]string]bool{}}
		c.schema("", newDoc, oldDoc)
		out = append(out, c.out...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	return out
}

// cmp walks two schemas in step and records every place where "new"
// rejects something "old" accepted. Forward mode runs it with the two
// swapped, so the rules are written once, for the backward direction.
type cmp struct {
	oldRoot, newRoot any
	dir              Mode
	out              []Finding
	// seen guards against recursive $refs: a pair of refs compared once.
	seen map[[2]string]bool
}

func (c *cmp) add(ptr, rule, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	if c.dir == Forward {
		// The walk ran with the versions swapped: what it calls "new" is
		// the old version, so a narrowing it finds is a widening here.
		detail = "the new version accepts events the old one rejected: read with the versions swapped, " + detail
	}
	c.out = append(c.out, Finding{Pointer: ptr, Rule: rule, Direction: c.dir, Detail: detail})
}

// keywords the walk understands; any other keyword that differs between
// the versions is reported as unproven.
var known = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "$defs": true, "definitions": true,
	"title": true, "description": true, "examples": true, "default": true, "deprecated": true,
	"readOnly": true, "writeOnly": true, "$anchor": true,
	"type": true, "required": true, "properties": true, "additionalProperties": true,
	"enum": true, "const": true, "pattern": true, "format": true, "items": true,
	"minLength": true, "maxLength": true, "minimum": true, "maximum": true,
	"exclusiveMinimum": true, "exclusiveMaximum": true, "minItems": true, "maxItems": true,
	"minProperties": true, "maxProperties": true, "multipleOf": true, "uniqueItems": true,
	"$ref": true,
}

func (c *cmp) resolve(root any, s any) (any, string) {
	m, ok := s.(map[string]any)
	if !ok {
		return s, ""
	}
	ref, ok := m["$ref"].(string)
	if !ok || len(m) != 1 && !onlyAnnotations(m) {
		return s, ""
	}
	target, ok := lookupPointer(root, ref)
	if !ok {
		return s, ref
	}
	return target, ref
}

func onlyAnnotations(m map[string]any) bool {
	for k := range m {
		switch k {
		case "$ref", "title", "description", "$comment", "examples", "default", "deprecated":
		default:
			return false
		}
	}
	return true
}

// lookupPointer follows a local reference such as #/$defs/iban.
func lookupPointer(root any, ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#") {
		return nil, false
	}
	cur := root
	p := strings.TrimPrefix(ref, "#")
	if p == "" {
		return root, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func esc(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// schema compares one subschema position.
func (c *cmp) schema(ptr string, oldS, newS any) {
	oldS, oldRef := c.resolve(c.oldRoot, oldS)
	newS, newRef := c.resolve(c.newRoot, newS)
	if oldRef != "" || newRef != "" {
		key := [2]string{oldRef + "|" + ptr, newRef}
		if oldRef != "" && newRef != "" {
			key = [2]string{oldRef, newRef}
		}
		if c.seen[key] {
			return
		}
		c.seen[key] = true
	}
	if isTrue(newS) {
		return // the new version accepts anything here
	}
	if isFalse(oldS) {
		return // the old version accepted nothing here
	}
	if isFalse(newS) {
		c.add(ptr, "narrowed", "the new version accepts nothing here")
		return
	}
	om, _ := asMap(oldS)
	nm, ok := asMap(newS)
	if !ok {
		c.add(ptr, "unproven", "not a schema object")
		return
	}
	if _, ref := nm["$ref"]; ref {
		c.add(ptr, "unproven", "a $ref next to other keywords, or one that does not resolve locally")
		return
	}
	if _, ref := om["$ref"]; ref {
		c.add(ptr, "unproven", "the old version has a $ref next to other keywords, or one that does not resolve locally")
		return
	}
	for k, nv := range nm {
		if known[k] {
			continue
		}
		if ov, ok := om[k]; !ok || !reflect.DeepEqual(ov, nv) {
			c.add(ptr+"/"+esc(k), "unproven", "keyword %q changed; its effect is not checked", k)
		}
	}
	c.types(ptr, om, nm)
	c.enum(ptr, om, nm)
	c.strings(ptr, om, nm)
	c.numbers(ptr, om, nm)
	c.objects(ptr, om, nm)
	c.arrays(ptr, om, nm)
}
