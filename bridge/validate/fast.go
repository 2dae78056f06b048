package validate

import (
	"math/big"
	"regexp"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// fastNode is one schema of a compiled fast path: a second reading of the
// schema that jsonschema/v5 compiled, for the keywords ERP event schemas
// use. The library builds an error tree with a map and several strings per
// JSON value it visits, which made it two thirds of the validation cost;
// the fast path allocates nothing.
//
// It only ever answers "certainly valid". A document it does not accept,
// or a check it cannot decide cheaply (a number equal to a bound, a
// non-integer-looking integer), goes to the library, which gives the
// verdict and the error report. So an event the library would reject can
// never pass here, whatever the fast path misses; a schema using any
// keyword outside the subset has no fast path at all.
type fastNode struct {
	always *bool
	types  uint8
	consts []any // enum values and const; strings, booleans and null only
	format func(any) bool
	// quickFormat, when the format has one, accepts the common forms
	// without the library's checker.
	quickFormat func([]byte) bool

	minProps, maxProps int
	required           []string
	props              map[string]*fastNode
	propIndex          *propTable // props, for the lookup of every member
	patternProps       []patternProp
	noAdditional       bool
	additional         *fastNode

	minItems, maxItems int
	prefixItems        []*fastNode
	items              *fastNode

	minLen, maxLen int
	pattern        *regexp.Regexp
	dfa            *patternDFA // pattern as an automaton, when it compiles

	min, max, exMin, exMax *bound

	ref   *fastNode
	allOf []*fastNode
	anyOf []*fastNode
}

type patternProp struct {
	re   *regexp.Regexp
	node *fastNode
}

// bound is a numeric limit kept exactly and as its nearest float, for the
// comparison that decides nearly every value.
type bound struct {
	rat *big.Rat
	f   float64
	// exact: f is rat exactly, so a number whose float is exact too
	// compares by floats alone.
	exact bool
}

const (
	typeObject uint8 = 1 << iota
	typeArray
	typeString
	typeNumber
	typeInteger
	typeBoolean
	typeNull
)

var typeBits = map[string]uint8{
	"object": typeObject, "array": typeArray, "string": typeString, "number": typeNumber,
	"integer": typeInteger, "boolean": typeBoolean, "null": typeNull,
}

// compileFast builds the fast path of s, or returns nil when s uses a
// keyword the fast path does not implement.
func compileFast(s *jsonschema.Schema) *fastNode {
	memo := map[*jsonschema.Schema]*fastNode{}
	n, ok := fastFrom(s, memo)
	if !ok {
		return nil
	}
	return n
}

func fastFrom(s *jsonschema.Schema, memo map[*jsonschema.Schema]*fastNode) (*fastNode, bool) {
	if s == nil {
		return nil, true
	}
	if n, ok := memo[s]; ok {
		return n, true // recursion through $ref
	}
	if !fastSupported(s) {
		return nil, false
	}
	n := &fastNode{
		always: s.Always, minProps: s.MinProperties, maxProps: s.MaxProperties, required: s.Required,
		noAdditional: s.AdditionalProperties == false, minItems: s.MinItems, maxItems: s.MaxItems,
		minLen: s.MinLength, maxLen: s.MaxLength, pattern: s.Pattern, dfa: compileDFA(s.Pattern),
	}
	memo[s] = n
	for _, t := range s.Types {
		n.types |= typeBits[t]
	}
	if s.Format != "" {
		n.format = jsonschema.Formats[s.Format]
		n.quickFormat = quickFormats[s.Format]
	}
	for _, v := range append(append([]any(nil), s.Constant...), s.Enum...) {
		switch v.(type) {
		case string, bool, nil:
			n.consts = append(n.consts, v)
		default:
			return nil, false
		}
	}
	if len(s.Constant) > 0 && len(s.Enum) > 0 {
		return nil, false // both at once: the lists would have to be intersected
	}
	// ok turns false, for good, as soon as any subschema is unsupported.
	ok := true
	add := func(child *jsonschema.Schema) *fastNode {
		c, cok := fastFrom(child, memo)
		ok = ok && cok
		return c
	}
	if len(s.Properties) > 0 {
		n.props = make(map[string]*fastNode, len(s.Properties))
		for name, p := range s.Properties {
			n.props[name] = add(p)
		}
		n.propIndex = newPropTable(n.props)
	}
	for re, p := range s.PatternProperties {
		n.patternProps = append(n.patternProps, patternProp{re: re, node: add(p)})
	}
	if a, isSchema := s.AdditionalProperties.(*jsonschema.Schema); isSchema {
		n.additional = add(a)
	}
	for _, p := range s.PrefixItems {
		n.prefixItems = append(n.prefixItems, add(p))
	}
	n.items = add(s.Items2020)
	if it, isSchema := s.Items.(*jsonschema.Schema); isSchema {
		n.items = add(it)
	}
	n.ref = add(s.Ref)
	for _, a := range s.AllOf {
		n.allOf = append(n.allOf, add(a))
	}
	for _, a := range s.AnyOf {
		n.anyOf = append(n.anyOf, add(a))
	}
	n.min, n.max, n.exMin, n.exMax = newBound(s.Minimum), newBound(s.Maximum), newBound(s.ExclusiveMinimum), newBound(s.ExclusiveMaximum)
	return n, ok
}

// fastSupported reports whether s uses only keywords the fast path checks.
func fastSupported(s *jsonschema.Schema) bool {
	if s.RecursiveRef != nil || s.DynamicRef != nil || s.Not != nil || len(s.OneOf) > 0 || s.If != nil ||
		s.PropertyNames != nil || s.RegexProperties || len(s.Dependencies) > 0 || len(s.DependentRequired) > 0 ||
		len(s.DependentSchemas) > 0 || s.UnevaluatedProperties != nil || s.UnevaluatedItems != nil ||
		s.UniqueItems || s.AdditionalItems != nil || s.Contains != nil || s.MultipleOf != nil ||
		s.ContentEncoding != "" || s.ContentMediaType != "" || s.ContentSchema != nil || len(s.Extensions) > 0 {
		return false
	}
	if _, tuple := s.Items.([]*jsonschema.Schema); tuple {
		return false
	}
	for _, t := range s.Types {
		if typeBits[t] == 0 {
			return false
		}
	}
	return true
}

func newBound(r *big.Rat) *bound {
	if r == nil {
		return nil
	}
	f, exact := r.Float64()
	return &bound{rat: r, f: f, exact: exact}
}
