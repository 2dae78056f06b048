package mask

import (
	"strings"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// A detector finds sensitive substrings in free text and appends their
// byte ranges [start, end) to dst in ascending order, non-overlapping.
type detector struct {
	name string
	find func(dst [][2]int, s string) [][2]int
}

var detectors = map[string]detector{
	"iban":  {"iban", findIBANs},
	"card":  {"card", findCards},
	"email": {"email", findEmails},
}

// shortestDetectable is the length of the shortest text any detector
// finds (a@b.cc; a card has 13 digits, an IBAN 15 characters): shorter
// strings, most of an event's, are not scanned at all.
const shortestDetectable = 6

// DetectorNames lists the detectors a policy may name.
func DetectorNames() []string { return []string{"card", "email", "iban"} }

// findEmails finds local@domain.tld with a letters-only top-level domain
// of two or more letters. It scans from each '@' outwards instead of running
// a regular expression over the whole text, which cost more than the rest
// of masking together.
func findEmails(dst [][2]int, s string) [][2]int {
	out := dst
	prevEnd := 0
	for from := 0; from < len(s); {
		i := strings.IndexByte(s[from:], '@')
		if i < 0 {
			break
		}
		at := from + i
		from = at + 1
		l := at
		for l > prevEnd && isLocal(s[l-1]) {
			l--
		}
		if l == at {
			continue
		}
		end, dots := -1, 0
		for j := at + 1; ; {
			start := j
			alpha := true
			for j < len(s) && isDomain(s[j]) {
				alpha = alpha && isLetter(s[j])
				j++
			}
			if j == start {
				break
			}
			if dots > 0 && alpha && j-start >= 2 {
				end = j
			}
			if j+1 < len(s) && s[j] == '.' && isDomain(s[j+1]) {
				dots++
				j++
				continue
			}
			break
		}
		if end > 0 {
			out = append(out, [2]int{l, end})
			prevEnd, from = end, end
		}
	}
	return out
}

func isLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}
func isDomain(c byte) bool { return isAlnum(c) || c == '-' }
func isLetter(c byte) bool { return byteClass[c]&(classUpper|classLower) != 0 }

// findCards finds runs of 13 to 19 digits, optionally grouped by single
// spaces or dashes, that pass the Luhn check. Like findIBANs it shortens a
// failing run group by group, so a date or amount after the number does
// not hide it.
func findCards(dst [][2]int, s string) [][2]int {
	out := dst
	if len(s) < 13 {
		return out
	}
	for i := 0; i < len(s); i++ {
		// Only a digit can start a number: on to the next one, eight
		// bytes at a time.
		i = jsontext.SkipToByteBetween(s, i, '0'-1, '9'+1)
		if i >= len(s) {
			break
		}
		if byteClass[s[i]]&classDigit == 0 || (i > 0 && byteClass[s[i-1]]&classAlnum != 0) {
			continue
		}
		j, digits := i, 0
		var endsBuf [19 - 13 + 1]int // one per length a card may have
		ends := endsBuf[:0]
		for j < len(s) && digits < 19 {
			c := s[j]
			if isDigit(c) {
				digits++
				j++
				if digits >= 13 && (j == len(s) || !isAlnum(s[j])) {
					ends = append(ends, j)
				}
				continue
			}
			if (c == ' ' || c == '-') && j+1 < len(s) && isDigit(s[j+1]) {
				j++
				continue
			}
			break
		}
		if digits < 13 {
			// The run ended short; a start further into it ends at the
			// same place with fewer digits.
			i = j - 1
			continue
		}
		for k := len(ends) - 1; k >= 0; k-- {
			if luhn(s[i:ends[k]]) {
				out = append(out, [2]int{i, ends[k]})
				i = ends[k] - 1
				break
			}
		}
	}
	return out
}

// luhn checks the Luhn checksum of the digits in s (separators skipped).
func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// findIBANs finds country code + check digits + 11..30 alphanumerics,
// optionally in groups separated by single spaces, that pass the ISO 13616
// mod-97 check. A greedy match that fails is shortened group by group, so
// a reference glued to the IBAN does not hide it.
func findIBANs(dst [][2]int, s string) [][2]int {
	out := dst
	for i := 0; i+15 <= len(s); i++ {
		// Only a capital can start an IBAN.
		i = jsontext.SkipToByteBetween(s, i, 'A'-1, 'Z'+1)
		if i+15 > len(s) {
			break
		}
		if !isUpper(s[i]) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || (i > 0 && isAlnum(s[i-1])) {
			continue
		}
		// Candidate ends: after each alphanumeric at a group boundary.
		j, n := i, 0
		var endsBuf [34 - 15 + 1]int // one per length an IBAN may have
		ends := endsBuf[:0]
		for j < len(s) && n < 34 {
			c := s[j]
			if isUpper(c) || isDigit(c) {
				n++
				j++
				if n >= 15 && (j == len(s) || !isAlnum(s[j])) {
					ends = append(ends, j)
				}
				continue
			}
			if c == ' ' && j+1 < len(s) && (isUpper(s[j+1]) || isDigit(s[j+1])) {
				j++
				continue
			}
			break
		}
		if n < 15 {
			i = j - 1 // as in findCards: no later start in this run is longer
			continue
		}
		for k := len(ends) - 1; k >= 0; k-- {
			if ibanValid(s[i:ends[k]]) {
				out = append(out, [2]int{i, ends[k]})
				i = ends[k] - 1
				break
			}
		}
	}
	return out
}

// ibanValid applies the mod-97 check to an IBAN, spaces ignored.
func ibanValid(s string) bool {
	compact := make([]byte, 0, 34)
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			compact = append(compact, s[i])
		}
	}
	if len(compact) < 15 || len(compact) > 34 {
		return false
	}
	// The country code and check digits go last. Digits are folded into
	// the remainder piecewise: the number is far beyond 64 bits.
	rem := 0
	for i := range compact {
		c := compact[(i+4)%len(compact)]
		switch {
		case isDigit(c):
			rem = (rem*10 + int(c-'0')) % 97
		case isUpper(c):
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// Character classes by table: the detectors test every byte of every
// string, and one load beats a chain of comparisons there.
const (
	classDigit uint8 = 1 << iota
	classUpper
	classLower
	classAlnum = classDigit | classUpper | classLower
)

var byteClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = classDigit
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = classUpper
		t[c+'a'-'A'] = classLower
	}
	return t
}()

func isDigit(c byte) bool { return byteClass[c]&classDigit != 0 }
func isUpper(c byte) bool { return byteClass[c]&classUpper != 0 }
func isAlnum(c byte) bool { return byteClass[c]&classAlnum != 0 }
