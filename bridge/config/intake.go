package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// Limits bound what the bridge reads of one JSON event, so that every
// payload is decided in time proportional to its size. The top-level
// limits apply to every partner; a partner's own limits override them
// field by field. A field left out (or 0) takes the built-in default.
type Limits struct {
	// MaxDepth is how deeply objects and arrays may nest (default 64).
	MaxDepth int `yaml:"max_depth"`
	// MaxStringBytes bounds a string value as written (default 65536).
	MaxStringBytes int `yaml:"max_string_bytes"`
	// MaxNumberBytes bounds a number as written (default 100).
	MaxNumberBytes int `yaml:"max_number_bytes"`
	// MaxNameBytes bounds a member name as written (default 256).
	MaxNameBytes int `yaml:"max_name_bytes"`
}

// maxDepthCeiling keeps the reader's recursion, and the schema library's
// walk of what it read, small.
const maxDepthCeiling = 1000

// Effective is l over the global limits over the defaults.
func (l Limits) Effective(global Limits) jsontext.Limits {
	pick := func(own, glob, def int) int {
		switch {
		case own > 0:
			return own
		case glob > 0:
			return glob
		}
		return def
	}
	return jsontext.Limits{
		MaxDepth:       pick(l.MaxDepth, global.MaxDepth, jsontext.DefaultMaxDepth),
		MaxStringBytes: pick(l.MaxStringBytes, global.MaxStringBytes, jsontext.DefaultMaxStringBytes),
		MaxNumberBytes: pick(l.MaxNumberBytes, global.MaxNumberBytes, jsontext.DefaultMaxNumberBytes),
		MaxNameBytes:   pick(l.MaxNameBytes, global.MaxNameBytes, jsontext.DefaultMaxNameBytes),
	}
}

func (l Limits) validate(path string, errs *FieldErrors) {
	for _, f := range []struct {
		name string
		v    int
	}{{"max_depth", l.MaxDepth}, {"max_string_bytes", l.MaxStringBytes}, {"max_number_bytes", l.MaxNumberBytes}, {"max_name_bytes", l.MaxNameBytes}} {
		if f.v < 0 {
			errs.Add(Join(path, f.name), "must not be negative")
		}
	}
	if l.MaxDepth > maxDepthCeiling {
		errs.Add(Join(path, "max_depth"), "%d is above %d", l.MaxDepth, maxDepthCeiling)
	}
}

// Identity is a partner's identity rule: which payload field names the
// sender, and which values name this partner. An event whose field is not
// a string or not one of Values is rejected as partner_mismatch; one
// without the field too when Required. Without a rule (the field left
// out, or `identity: none`) the payload's claims are not checked: the
// partner is who its connection authenticated.
type Identity struct {
	// Field is a JSON pointer (RFC 6901), e.g. /partner or /header/sender.
	Field string `yaml:"field"`
	// Values are the exact strings that name this partner; default: the
	// partner's name.
	Values []string `yaml:"values"`
	// Required rejects an event that does not have the field; by default
	// an event that names no sender passes (it claims no other identity).
	Required bool `yaml:"required"`
	// None is `identity: none`.
	None bool `yaml:"-"`
	// bad is a scalar that is not "none", reported by validation.
	bad *string
}

// UnmarshalYAML takes `identity: none` as well as a mapping.
func (id *Identity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value == "none" {
			*id = Identity{None: true}
		} else {
			v := n.Value
			*id = Identity{bad: &v}
		}
		return nil
	}
	type plain Identity
	return n.Decode((*plain)(id))
}

// Enabled says whether the rule checks anything.
func (id *Identity) Enabled() bool { return id != nil && !id.None && id.Field != "" }

// Describe is the rule as config check shows it.
func (id *Identity) Describe() string {
	if !id.Enabled() {
		return "identity not checked"
	}
	d := "identity " + id.Field + " is one of " + strings.Join(quoteAll(id.Values), ", ")
	if id.Required {
		return d + " (required)"
	}
	return d + " when present"
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strconv.Quote(v)
	}
	return out
}

// Pointer is the rule's field as member names (or array indexes).
func (id *Identity) Pointer() []string {
	segs, _ := ParsePointer(id.Field)
	return segs
}

func (id *Identity) applyDefaults(partner string) {
	if id.Enabled() && len(id.Values) == 0 {
		id.Values = []string{partner}
	}
}

func (id *Identity) validate(path string, errs *FieldErrors) {
	path = Join(path, "identity")
	switch {
	case id.bad != nil:
		errs.Add(path, "%q is not none or a mapping with field and values", *id.bad)
		return
	case id.None:
		return
	case id.Field == "":
		if len(id.Values) > 0 {
			errs.Add(Join(path, "field"), "required with values (a JSON pointer such as /partner)")
		}
		return
	}
	if _, err := ParsePointer(id.Field); err != nil {
		errs.Add(Join(path, "field"), "%v", err)
	}
	for i, v := range id.Values {
		if v == "" {
			errs.Add(path+".values["+strconv.Itoa(i)+"]", "empty value")
		}
	}
}

// ParsePointer splits a JSON pointer (RFC 6901) into its reference
// tokens, unescaped.
func ParsePointer(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%q is not a JSON pointer: it must start with /", p)
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		for j := 0; j < len(s); j++ {
			if s[j] == '~' && (j+1 >= len(s) || (s[j+1] != '0' && s[j+1] != '1')) {
				return nil, fmt.Errorf("%q is not a JSON pointer: ~ must be followed by 0 or 1", p)
			}
		}
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return segs, nil
}
