package jsontext

import "unicode/utf16"

func literalLen(b []byte, lit string) int {
	if len(b) >= len(lit) && string(b[:len(lit)]) == lit {
		return len(lit)
	}
	return 0
}

// numberByte marks the bytes that may go on a number: after a complete
// number, one of them means a malformed one (01, 1.2.3, 1e5e5).
var numberByte = func() (t [256]bool) {
	for _, c := range "0123456789.eE+-" {
		t[c] = true
	}
	return t
}()

// escapeLen is the length of the escape sequence at the start of b, or
// 0 and what is wrong with it. A UTF-16 surrogate is taken only as a
// high one followed by a low one: a lone half encodes no character.
func escapeLen(b []byte) (int, string) {
	if len(b) < 2 || b[0] != '\\' {
		return 0, "control character in string"
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, ""
	case 'u':
		r, ok := rune(0), len(b) >= 6
		if ok {
			r, ok = hex4(b[2:6])
		}
		switch {
		case !ok:
			return 0, "invalid \\u escape"
		case !utf16.IsSurrogate(r):
			return 6, ""
		case r < 0xdc00 && len(b) >= 12 && b[6] == '\\' && b[7] == 'u':
			if lo, ok := hex4(b[8:12]); ok && lo >= 0xdc00 && lo <= 0xdfff {
				return 12, ""
			}
		}
		return 0, "lone UTF-16 surrogate escape"
	}
	return 0, "invalid escape"
}

// numberLen is the length of the number in RFC 8259's grammar at the
// start of s, -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, or 0.
func numberLen(s []byte) int {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return 0
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return 0
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return 0
		}
		i = j
	}
	return i
}

func digits(s []byte, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
