package mask

import (
	"fmt"
	"strconv"
	"strings"
)

// Path addresses values in a JSON document. "*" matches every element of
// an array (and every member of an object).
type Path struct {
	raw  string
	segs []string
}

func (p Path) String() string { return p.raw }

// ParsePath accepts a JSON pointer (/payer/iban, /lines/*/card) or a
// simple path (payer.iban, lines[*].card, lines[0].card).
func ParsePath(s string) (Path, error) {
	if s == "" {
		return Path{}, fmt.Errorf("empty path")
	}
	var segs []string
	var err error
	if s[0] == '/' {
		segs = parsePointer(s)
	} else {
		segs, err = parseSimple(s)
		if err != nil {
			return Path{}, err
		}
	}
	return Path{raw: s, segs: segs}, nil
}

func parsePointer(s string) []string {
	parts := strings.Split(s[1:], "/")
	for i, p := range parts {
		if strings.Contains(p, "~") {
			p = strings.ReplaceAll(p, "~1", "/")
			parts[i] = strings.ReplaceAll(p, "~0", "~")
		}
	}
	return parts
}

func parseSimple(s string) ([]string, error) {
	var segs []string
	i := 0
	for i < len(s) {
		switch s[i] {
		case '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("%q: unclosed '[' at offset %d", s, i)
			}
			idx := s[i+1 : i+end]
			if idx != "*" {
				if n, err := strconv.Atoi(idx); err != nil || n < 0 {
					return nil, fmt.Errorf("%q: %q is not an array index or *", s, idx)
				}
			}
			segs = append(segs, idx)
			i += end + 1
			if i < len(s) {
				if s[i] == '.' {
					i++
					if i == len(s) {
						return nil, fmt.Errorf("%q: ends with '.'", s)
					}
				} else if s[i] != '[' {
					return nil, fmt.Errorf("%q: expected '.' or '[' at offset %d", s, i)
				}
			}
		case '.', ']':
			return nil, fmt.Errorf("%q: empty segment at offset %d", s, i)
		default:
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' && s[j] != ']' {
				j++
			}
			segs = append(segs, s[i:j])
			i = j
			if i < len(s) && s[i] == '.' {
				i++
				if i == len(s) {
					return nil, fmt.Errorf("%q: ends with '.'", s)
				}
			}
		}
	}
	return segs, nil
}

// visit calls fn for every value the path segments reach below node and
// stores what fn returns; keep=false removes the value. It returns the
// node to put in place of the original (arrays shrink on removal).
func visit(node any, segs []string, fn func(v any) (nv any, keep bool)) any {
	if len(segs) == 0 {
		return node
	}
	seg, rest := segs[0], segs[1:]
	switch n := node.(type) {
	case map[string]any:
		if seg == "*" {
			for k, v := range n {
				visitMember(n, k, v, rest, fn)
			}
			return n
		}
		if v, ok := n[seg]; ok {
			visitMember(n, seg, v, rest, fn)
		}
		return n
	case []any:
		if seg == "*" {
			if len(rest) > 0 {
				for i, v := range n {
					n[i] = visit(v, rest, fn)
				}
				return n
			}
			out := make([]any, 0, len(n))
			for _, v := range n {
				if nv, keep := fn(v); keep {
					out = append(out, nv)
				}
			}
			return out
		}
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i >= len(n) {
			return n
		}
		if len(rest) > 0 {
			n[i] = visit(n[i], rest, fn)
			return n
		}
		nv, keep := fn(n[i])
		if keep {
			n[i] = nv
			return n
		}
		return append(n[:i:i], n[i+1:]...)
	}
	return node
}

func visitMember(m map[string]any, k string, v any, rest []string, fn func(any) (any, bool)) {
	if len(rest) > 0 {
		m[k] = visit(v, rest, fn)
		return
	}
	nv, keep := fn(v)
	if keep {
		m[k] = nv
	} else {
		delete(m, k)
	}
}
