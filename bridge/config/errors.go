// Package config loads the bridge's YAML configuration: strict decoding,
// ${ENV} expansion, defaults, and validation errors that name the field.
package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem in the configuration, located by its field path
// such as "partners[1].inbound.options.subject".
type FieldError struct {
	Path string
	Msg  string
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// FieldErrors collects every problem found so an operator fixes them in one go.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Add records a problem at path.
func (es *FieldErrors) Add(path, format string, args ...any) {
	*es = append(*es, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Merge appends errors found under a sub-path, prefixing their paths.
func (es *FieldErrors) Merge(prefix string, other error) {
	if other == nil {
		return
	}
	if fe, ok := other.(FieldErrors); ok {
		for _, e := range fe {
			*es = append(*es, FieldError{Path: Join(prefix, e.Path), Msg: e.Msg})
		}
		return
	}
	*es = append(*es, FieldError{Path: prefix, Msg: other.Error()})
}

// Err returns nil when nothing was recorded.
func (es FieldErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Join builds a field path from a parent and a child segment.
func Join(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "":
		return parent
	case strings.HasPrefix(child, "["):
		return parent + child
	default:
		return parent + "." + child
	}
}
