package jsontext

import (
	"encoding/json"
	"strconv"
)

// Limits bound what the tape reader takes from one text, so that every
// payload is decided in time proportional to its length and what is
// decided stays small enough for the schema library and the ERP. A zero
// field takes its default.
type Limits struct {
	// MaxDepth is how deeply objects and arrays may nest; the root
	// container is level 1.
	MaxDepth int
	// MaxStringBytes bounds a string value's text between its quotes, as
	// written (escapes count as written).
	MaxStringBytes int
	// MaxNumberBytes bounds a number's text.
	MaxNumberBytes int
	// MaxNameBytes bounds a member name's text between its quotes.
	MaxNameBytes int
}

// The default limits: business events nest a few levels, carry names of
// a few dozen bytes and numbers that fit a decimal(38); a string of 64 KiB
// holds a long free text.
const (
	DefaultMaxDepth       = 64
	DefaultMaxStringBytes = 64 << 10
	DefaultMaxNumberBytes = 100
	DefaultMaxNameBytes   = 256
)

// DefaultLimits are the limits of a reader whose Limits are zero.
var DefaultLimits = Limits{
	MaxDepth:       DefaultMaxDepth,
	MaxStringBytes: DefaultMaxStringBytes,
	MaxNumberBytes: DefaultMaxNumberBytes,
	MaxNameBytes:   DefaultMaxNameBytes,
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxStringBytes <= 0 {
		l.MaxStringBytes = DefaultMaxStringBytes
	}
	if l.MaxNumberBytes <= 0 {
		l.MaxNumberBytes = DefaultMaxNumberBytes
	}
	if l.MaxNameBytes <= 0 {
		l.MaxNameBytes = DefaultMaxNameBytes
	}
	return l
}

// Error is why a text was not read: what is wrong, at which byte, in
// which value. It never quotes the text, so it can go into a
// dead-letter header.
type Error struct {
	// Offset is the byte of the text where the problem is.
	Offset int
	// Path is the JSON pointer of the value being read; a member name
	// that is long, escaped or not printable ASCII shows as its position,
	// "(member 3)".
	Path string
	// Limit: the text broke one of the Limits, rather than JSON's rules.
	Limit bool
	// Msg says what is wrong, e.g. "nesting deeper than 64".
	Msg string
}

func (e *Error) Error() string {
	return e.Msg + " at byte " + strconv.Itoa(e.Offset) + " in " + e.Path
}

// Value is the value at i as encoding/json decodes it with UseNumber:
// map[string]any, []any, string, json.Number, bool or nil. Its recursion
// is bounded by the depth the reader allowed.
func (t *Tape) Value(i int) any {
	switch t.toks[i].kind {
	case KindObject:
		m := make(map[string]any, t.Len(i))
		var buf []byte
		for j := i + 1; j < t.Next(i); j = t.Next(j + 1) {
			m[string(t.Str(j, &buf))] = t.Value(j + 1)
		}
		return m
	case KindArray:
		a := make([]any, 0, t.Len(i))
		for j := i + 1; j < t.Next(i); j = t.Next(j) {
			a = append(a, t.Value(j))
		}
		return a
	case KindString:
		var buf []byte
		return string(t.Str(i, &buf))
	case KindNumber:
		return json.Number(t.Raw(i))
	case KindTrue:
		return true
	case KindFalse:
		return false
	}
	return nil
}
