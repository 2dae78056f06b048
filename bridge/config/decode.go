package config

import (
	"errors"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	envRef       = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)
	typeErrLine  = regexp.MustCompile(`^line (\d+): (.*)$`)
	durationType = reflect.TypeOf(time.Duration(0))
	nodeType     = reflect.TypeOf(yaml.Node{})
)

// DecodeStrict decodes node into out, which must be a pointer. Unknown keys,
// type mismatches and unset ${ENV} references are reported with their field
// path relative to node. Connectors use it for their own options.
func DecodeStrict(node *yaml.Node, out any) error {
	var errs FieldErrors
	if node == nil || node.Kind == 0 {
		return nil
	}
	lines := map[int][]lineField{}
	expandEnv(node, "", &errs)
	checkKnown(node, reflect.TypeOf(out).Elem(), "", &errs, lines)
	if err := node.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, msg := range te.Errors {
				errs = append(errs, locate(msg, lines))
			}
		} else {
			errs.Add("", "%v", err)
		}
	}
	return errs.Err()
}

// lineField is a field whose node starts on a given line; several share a
// line in flow style ({a: 1, b: x}).
type lineField struct {
	path, value string
	typ         reflect.Type
}

func locate(msg string, lines map[int][]lineField) FieldError {
	m := typeErrLine.FindStringSubmatch(msg)
	if m == nil {
		return FieldError{Msg: msg}
	}
	n, _ := strconv.Atoi(m[1])
	if fields := lines[n]; len(fields) > 0 {
		// yaml names only the line: pick the field on it whose value and
		// Go type the message quotes, else the last one recorded.
		best := fields[len(fields)-1].path
		if u := unmarshalErr.FindStringSubmatch(m[2]); u != nil {
			for _, f := range fields {
				if f.value == u[2] && f.typ != nil && f.typ.String() == u[3] {
					best = f.path
					break
				}
			}
		}
		return FieldError{Path: best, Msg: humanType(m[2])}
	}
	return FieldError{Msg: "line " + m[1] + ": " + humanType(m[2])}
}

var unmarshalErr = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// humanType rewrites yaml's "cannot unmarshal !!str `30 seconds` into
// time.Duration" as what the operator should write instead.
func humanType(msg string) string {
	m := unmarshalErr.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	kind, val, into := m[1], m[2], m[3]
	got := "`" + val + "`"
	switch kind {
	case "seq":
		got = "a list"
	case "map":
		got = "a mapping"
	}
	switch {
	case into == "time.Duration":
		if kind == "int" || kind == "float" {
			return got + " has no unit: use a duration such as 30s, 500ms or 1h30m"
		}
		return got + " is not a duration: use a duration such as 30s, 500ms or 1h30m"
	case strings.HasPrefix(into, "int") || strings.HasPrefix(into, "uint"):
		return got + " is not a whole number: use digits only, such as 256"
	case strings.HasPrefix(into, "float"):
		return got + " is not a number: use one such as 0.5 or 100"
	case into == "bool":
		return got + " is not a boolean: use true or false"
	case into == "string":
		return got + " is not a single value: use a string, quoted if needed"
	case strings.HasPrefix(into, "[]"):
		return got + " is not a list: use [a, b] or one \"- item\" per line"
	case strings.HasPrefix(into, "map["), strings.Contains(into, "."):
		return got + " is not a mapping: use \"key: value\" pairs below this field"
	}
	return msg
}

// expandEnv replaces ${NAME} and ${NAME:-default} in scalar values. It works
// on the parsed tree, not the raw text, so a secret containing YAML syntax
// cannot change the document's structure.
func expandEnv(n *yaml.Node, path string, errs *FieldErrors) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			expandEnv(c, path, errs)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			expandEnv(n.Content[i+1], Join(path, n.Content[i].Value), errs)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			expandEnv(c, path+"["+strconv.Itoa(i)+"]", errs)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v, ok := os.LookupEnv(m[1]); ok {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			errs.Add(path, "environment variable %s is not set", m[1])
			return ""
		})
		// An expanded value is a string the operator meant literally, but it
		// may also fill an int or bool field, so let yaml re-resolve its tag.
		if n.Style == 0 {
			n.Tag = ""
		}
	}
}

// checkKnown walks the node alongside the Go type and reports keys the type
// does not have. It also records which field path each line belongs to, so
// yaml's type errors ("line 7: cannot unmarshal …") can name the field.
func checkKnown(n *yaml.Node, t reflect.Type, path string, errs *FieldErrors, lines map[int][]lineField) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkKnown(c, t, path, errs, lines)
		}
		return
	}
	lines[n.Line] = append(lines[n.Line], lineField{path, n.Value, t})
	if t == nodeType || t == durationType {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		switch t.Kind() {
		case reflect.Struct:
			fields := yamlFields(t)
			for i := 0; i+1 < len(n.Content); i += 2 {
				key, val := n.Content[i], n.Content[i+1]
				p := Join(path, key.Value)
				ft, ok := fields[key.Value]
				if !ok {
					if near := nearest(key.Value, fields); near != "" {
						errs.Add(p, "unknown field (did you mean %s?)", near)
					} else {
						errs.Add(p, "unknown field")
					}
					continue
				}
				lines[key.Line] = append(lines[key.Line], lineField{p, val.Value, ft})
				checkKnown(val, ft, p, errs, lines)
			}
		case reflect.Map:
			for i := 0; i+1 < len(n.Content); i += 2 {
				checkKnown(n.Content[i+1], t.Elem(), Join(path, n.Content[i].Value), errs, lines)
			}
		}
	case yaml.SequenceNode:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, c := range n.Content {
				checkKnown(c, t.Elem(), path+"["+strconv.Itoa(i)+"]", errs, lines)
			}
		}
	}
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// nearest is the known field closest to a misspelt key, when one is within
// two edits; "" when none is.
func nearest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for f := range fields {
		if d := editDistance(key, f); d < bestD || (d == bestD && f < best) {
			best, bestD = f, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
