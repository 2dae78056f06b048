package bridge

import (
	"strings"
	"unicode"
)

// CleanHeaderValue drops control characters from a partner's header value:
// header values end up in NATS headers, where a line break would forge
// another header.
func CleanHeaderValue(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// ValidHeaderKey reports whether a partner's header name can be carried as
// a NATS header name.
func ValidHeaderKey(k string) bool {
	if k == "" || len(k) > 256 {
		return false
	}
	for _, r := range k {
		if r <= ' ' || r >= 0x7f || r == ':' {
			return false
		}
	}
	return true
}
