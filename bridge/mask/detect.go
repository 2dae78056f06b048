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
	for i := 0; i+13 <= len(s); i++ {
		// Only a digit can start a number: on to the next one, eight
		// bytes at a time. A number starting less than 13 bytes before
		// the end is too short for a card, as in most references and
		// timestamps.
		i = jsontext.SkipToByteBetween(s, i, '0'-1, '9'+1)
		if i+13 > len(s) {
			break
		}
		if !isDigit(s[i]) {
			continue // in the last partial word
		}
		if i > 0 && isAlnum(s[i-1]) {
			// Inside a word: no number starts before the word ends.
			i = wordEnd(s, i) - 1
			continue
		}
		var endsBuf [19 - 13 + 1]int // one per length a card may have
		j, digits, ends := groupedRun(s, i, 13, 19, classDigit, true, endsBuf[:0])
		if digits < 13 {
			// The run ended short; a start further into it ends at the
			// same place with fewer digits.
			i = j - 1
			continue
		}
		i = longestValid(&out, s, i, ends, luhn)
	}
	return out
}

// groupedRun reads the run at start of at most maxLen bytes of class, in
// groups joined by single spaces (or dashes, with dash), and returns where
// it stopped, how many class bytes it read, and the candidate ends: after
// each of the minLen-th and later class bytes that ends a word.
func groupedRun(s string, start, minLen, maxLen int, class uint8, dash bool, ends []int) (int, int, []int) {
	j, n := start, 0
	for j < len(s) && n < maxLen {
		c := s[j]
		if byteClass[c]&class != 0 {
			n++
			j++
			if n >= minLen && (j == len(s) || !isAlnum(s[j])) {
				ends = append(ends, j)
			}
			continue
		}
		if (c == ' ' || (dash && c == '-')) && j+1 < len(s) && byteClass[s[j+1]]&class != 0 {
			j++
			continue
		}
		break
	}
	return j, n, ends
}

// longestValid appends the longest candidate s[start:end] for which valid
// holds, trying ends from the last, and returns where the search goes on:
// before the end of the hit, or, without one, before the end of the word
// at start, as a later start must follow a separator.
func longestValid(out *[][2]int, s string, start int, ends []int, valid func(string) bool) int {
	for k := len(ends) - 1; k >= 0; k-- {
		if valid(s[start:ends[k]]) {
			*out = append(*out, [2]int{start, ends[k]})
			return ends[k] - 1
		}
	}
	return wordEnd(s, start) - 1
}

// wordEnd is the end of the run of letters and digits at i.
func wordEnd(s string, i int) int {
	for i < len(s) && isAlnum(s[i]) {
		i++
	}
	return i
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
		if !isUpper(s[i]) {
			continue // in the last partial word
		}
		if (i > 0 && isAlnum(s[i-1])) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
			// Not at a word start, or not a country code and check
			// digits: the next start is after this word.
			i = wordEnd(s, i) - 1
			continue
		}
		var endsBuf [34 - 15 + 1]int // one per length an IBAN may have
		j, n, ends := groupedRun(s, i, 15, 34, classUpper|classDigit, false, endsBuf[:0])
		if n < 15 {
			i = j - 1 // as in findCards: no later start in this run is longer
			continue
		}
		i = longestValid(&out, s, i, ends, ibanValid)
	}
	return out
}

// ibanValid applies the mod-97 check to an IBAN, spaces ignored.
func ibanValid(s string) bool {
	var buf [34]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			continue
		}
		if n == len(buf) {
			return false
		}
		buf[n] = s[i]
		n++
	}
	if n < 15 {
		return false
	}
	// The country code and check digits go last.
	rem, ok := mod97(0, buf[4:n])
	if !ok {
		return false
	}
	rem, ok = mod97(rem, buf[:4])
	return ok && rem == 1
}

// mod97 folds the digits of b, letters as 10 to 35, into rem and returns
// the remainder by 97. The number is far beyond 64 bits, so it is reduced
// whenever it nears the top; rarely, since a division per character cost
// more than the rest of the check.
func mod97(rem uint64, b []byte) (uint64, bool) {
	for _, c := range b {
		switch {
		case isDigit(c):
			rem = rem*10 + uint64(c-'0')
		case isUpper(c):
			rem = rem*100 + uint64(c-'A') + 10
		default:
			return 0, false
		}
		if rem >= 1<<56 { // below 2^64 after the next ×100
			rem %= 97
		}
	}
	return rem % 97, true
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
