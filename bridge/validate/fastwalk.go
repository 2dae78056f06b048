package validate

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// valid reports whether v certainly satisfies the schema. sc holds
// scratch space, so the walk allocates nothing.
func (n *fastNode) valid(t *jsontext.Tape, i int, sc *walkScratch) bool {
	if n == nil {
		return true
	}
	if n.always != nil {
		return *n.always
	}
	k := t.Kind(i)
	var str, num []byte // a string's value or a number's text, read once for every check
	switch k {
	case jsontext.KindString:
		str = t.Str(i, &sc.str)
	case jsontext.KindNumber:
		num = t.Raw(i)
	}
	if n.types != 0 && !n.typeOK(k, num) {
		return false
	}
	if len(n.consts) > 0 && !n.constOK(k, str) {
		return false
	}
	switch k {
	case jsontext.KindObject:
		if !n.objectOK(t, i, sc) {
			return false
		}
	case jsontext.KindArray:
		if !n.arrayOK(t, i, sc) {
			return false
		}
	case jsontext.KindString:
		if !n.stringOK(str) {
			return false
		}
	case jsontext.KindNumber:
		if !n.numberOK(jsontext.View(num)) {
			return false
		}
	}
	if n.format != nil && !n.formatOK(k, str, num) {
		return false
	}
	if !n.ref.valid(t, i, sc) {
		return false
	}
	for _, a := range n.allOf {
		if !a.valid(t, i, sc) {
			return false
		}
	}
	if len(n.anyOf) > 0 {
		for _, a := range n.anyOf {
			if a.valid(t, i, sc) {
				return true
			}
		}
		return false
	}
	return true
}

// walkScratch is per-walk space for unescaping a string.
type walkScratch struct{ str []byte }

// formatOK checks the format of a string (str) or number (num).
func (n *fastNode) formatOK(k jsontext.Kind, str, num []byte) bool {
	if n.quickFormat != nil && k == jsontext.KindString && n.quickFormat(str) {
		return true
	}
	return n.format(formatArg(k, str, num))
}

// formatArg is the value the library's format checkers take: they look
// only at strings (and numbers, for none of the formats used here) and
// accept any other kind.
func formatArg(k jsontext.Kind, str, num []byte) any {
	switch k {
	case jsontext.KindString:
		return jsontext.View(str)
	case jsontext.KindNumber:
		return json.Number(num)
	}
	return nil
}

// typeOK checks the value's kind; num is a number's text.
func (n *fastNode) typeOK(k jsontext.Kind, num []byte) bool {
	var bit uint8
	switch k {
	case jsontext.KindObject:
		bit = typeObject
	case jsontext.KindArray:
		bit = typeArray
	case jsontext.KindString:
		bit = typeString
	case jsontext.KindTrue, jsontext.KindFalse:
		bit = typeBoolean
	case jsontext.KindNull:
		bit = typeNull
	case jsontext.KindNumber:
		if n.types&typeNumber != 0 {
			return true
		}
		// Only plain digits are certainly an integer; 2.0 or 1e3 are
		// integers too, but the library decides those.
		return n.types&typeInteger != 0 && plainInteger(jsontext.View(num))
	default:
		return false
	}
	return n.types&bit != 0
}

func plainInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// constOK checks enum and const; str is a string's value.
func (n *fastNode) constOK(k jsontext.Kind, str []byte) bool {
	for _, c := range n.consts {
		switch cv := c.(type) {
		case string:
			if k == jsontext.KindString && string(str) == cv {
				return true
			}
		case bool:
			if (cv && k == jsontext.KindTrue) || (!cv && k == jsontext.KindFalse) {
				return true
			}
		case nil:
			if k == jsontext.KindNull {
				return true
			}
		}
	}
	return false
}

func (n *fastNode) objectOK(t *jsontext.Tape, i int, sc *walkScratch) bool {
	l := t.Len(i)
	if (n.minProps != -1 && l < n.minProps) || (n.maxProps != -1 && l > n.maxProps) {
		return false
	}
	for _, r := range n.required {
		if t.Member(i, r) < 0 {
			return false
		}
	}
	for j := i + 1; j < t.Next(i); j = t.Next(j + 1) {
		if !n.memberOK(t.Raw(j), t, j+1, sc) {
			return false
		}
	}
	return true
}

func (n *fastNode) memberOK(k []byte, t *jsontext.Tape, v int, sc *walkScratch) bool {
	p, declared := n.propIndex.lookup(k)
	if declared && !p.valid(t, v, sc) {
		return false
	}
	matched := false
	for _, pp := range n.patternProps {
		if pp.re.Match(k) {
			matched = true
			if !pp.node.valid(t, v, sc) {
				return false
			}
		}
	}
	if declared || matched {
		return true
	}
	return !n.noAdditional && n.additional.valid(t, v, sc)
}

func (n *fastNode) arrayOK(t *jsontext.Tape, i int, sc *walkScratch) bool {
	l := t.Len(i)
	if (n.minItems != -1 && l < n.minItems) || (n.maxItems != -1 && l > n.maxItems) {
		return false
	}
	for e, j := 0, i+1; j < t.Next(i); e, j = e+1, t.Next(j) {
		item := n.items
		if e < len(n.prefixItems) {
			item = n.prefixItems[e]
		}
		if !item.valid(t, j, sc) {
			return false
		}
	}
	return true
}

func (n *fastNode) stringOK(s []byte) bool {
	if !n.lengthOK(s) {
		return false
	}
	if n.pattern == nil {
		return true
	}
	if n.dfa != nil {
		if matched, ok := n.dfa.match(s); ok {
			return matched
		}
	}
	return n.pattern.Match(s)
}

// lengthOK checks minLength and maxLength, which count characters. A
// character is one to four bytes, so the byte length alone decides most
// strings without counting.
func (n *fastNode) lengthOK(s []byte) bool {
	needMin := n.minLen != -1 && (len(s)+3)/4 < n.minLen
	needMax := n.maxLen != -1 && len(s) > n.maxLen
	if !needMin && !needMax {
		return true
	}
	l := utf8.RuneCount(s)
	return (n.minLen == -1 || l >= n.minLen) && (n.maxLen == -1 || l <= n.maxLen)
}

func (n *fastNode) numberOK(num string) bool {
	if n.min == nil && n.max == nil && n.exMin == nil && n.exMax == nil {
		return true
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return false // out of float range: the library decides
	}
	c := numCompare{s: num, f: f}
	return c.atLeast(n.min, false) && c.atLeast(n.exMin, true) && c.atMost(n.max, false) && c.atMost(n.exMax, true)
}

// numCompare compares a document number with bounds. f and a bound's f
// are the floats nearest to the exact values, and rounding to nearest
// keeps order, so f above the bound's f means the number is above the
// bound; only when the two floats are equal can a difference hide below
// float precision, and then the exact values are compared.
type numCompare struct {
	s   string
	f   float64
	rat *big.Rat
}

// cmp compares the number with b: -1, 0 or +1; ok is false when the
// number cannot be read exactly.
func (c *numCompare) cmp(b *bound) (int, bool) {
	switch {
	case c.f > b.f:
		return 1, true
	case c.f < b.f:
		return -1, true
	case b.exact && shortInteger(c.s):
		return 0, true // equal floats, both exact: equal numbers
	}
	if c.rat == nil {
		r, ok := new(big.Rat).SetString(c.s)
		if !ok {
			return 0, false
		}
		c.rat = r
	}
	return c.rat.Cmp(b.rat), true
}

// shortInteger reports whether s is an integer literal of at most 15
// digits, which a float64 holds exactly.
func shortInteger(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	if s == "" || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (c *numCompare) atLeast(b *bound, strict bool) bool {
	if b == nil {
		return true
	}
	d, ok := c.cmp(b)
	return ok && (d > 0 || (!strict && d == 0))
}

func (c *numCompare) atMost(b *bound, strict bool) bool {
	if b == nil {
		return true
	}
	d, ok := c.cmp(b)
	return ok && (d < 0 || (!strict && d == 0))
}

// propTable finds a declared property by name class (see nameClass)
// and one comparison, where a map would hash every member name.
type propTable struct {
	slots [64][]propEntry
}

type propEntry struct {
	name string
	node *fastNode
}

func newPropTable(props map[string]*fastNode) *propTable {
	t := &propTable{}
	for name, node := range props {
		i := jsontext.NameSlot([]byte(name))
		t.slots[i] = append(t.slots[i], propEntry{name, node})
	}
	return t
}

func (t *propTable) lookup(k []byte) (*fastNode, bool) {
	if t == nil {
		return nil, false
	}
	for _, e := range t.slots[jsontext.NameSlot(k)] {
		if e.name == string(k) {
			return e.node, true
		}
	}
	return nil, false
}
