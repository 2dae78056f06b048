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
	lines := map[int]string{}
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

func locate(msg string, lines map[int]string) FieldError {
	m := typeErrLine.FindStringSubmatch(msg)
	if m == nil {
		return FieldError{Msg: msg}
	}
	n, _ := strconv.Atoi(m[1])
	if p, ok := lines[n]; ok {
		return FieldError{Path: p, Msg: m[2]}
	}
	return FieldError{Msg: msg}
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
func checkKnown(n *yaml.Node, t reflect.Type, path string, errs *FieldErrors, lines map[int]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkKnown(c, t, path, errs, lines)
		}
		return
	}
	lines[n.Line] = path
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
					errs.Add(p, "unknown field")
					continue
				}
				lines[key.Line] = p
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
