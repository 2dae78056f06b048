package mask

import (
	"reflect"
	"testing"
)

// The detectors as they were before they skipped eight bytes at a time:
// the reference FuzzDetectorsSkipNothing holds them to.

func findCardsBytewise(s string) [][2]int {
	var out [][2]int
	if len(s) < 13 {
		return nil
	}
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&classDigit == 0 || (i > 0 && byteClass[s[i-1]]&classAlnum != 0) {
			continue
		}
		j, digits := i, 0
		var ends []int
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

func findIBANsBytewise(s string) [][2]int {
	var out [][2]int
	for i := 0; i+15 <= len(s); i++ {
		if !isUpper(s[i]) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || (i > 0 && isAlnum(s[i-1])) {
			continue
		}
		// Candidate ends: after each alphanumeric at a group boundary.
		j, n := i, 0
		var ends []int
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

// FuzzDetectorsSkipNothing: skipping words without a digit or a capital
// finds exactly what a byte-by-byte scan finds.
func FuzzDetectorsSkipNothing(f *testing.F) {
	f.Add("pay GB82 WEST 1234 5698 7654 32 or card 5500 0055 5555 5559 today")
	f.Add("xxxxxxxxxxxxxxx4111111111111111 and xxxxxxxDE89370400440532013000")
	f.Add("abcdefgh4111-1111-1111-1111abcdefghDE89 3704 0044 0532 0130 00")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := findCards(nil, s), findCardsBytewise(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("findCards(%q) = %v, byte by byte %v", s, got, want)
		}
		if got, want := findIBANs(nil, s), findIBANsBytewise(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("findIBANs(%q) = %v, byte by byte %v", s, got, want)
		}
	})
}

// insertHitRef is the merge scanString once did hit by hit: insert each
// range into a sorted list, joining it with every range it overlaps.
func insertHitRef(hits [][2]int, h [2]int) [][2]int {
	out := make([][2]int, 0, len(hits)+1)
	placed := false
	for _, x := range hits {
		switch {
		case x[1] <= h[0]:
			out = append(out, x)
		case h[1] <= x[0]:
			if !placed {
				out, placed = append(out, h), true
			}
			out = append(out, x)
		default:
			h = [2]int{min(h[0], x[0]), max(h[1], x[1])}
		}
	}
	if !placed {
		out = append(out, h)
	}
	return out
}

// FuzzMergeHitsMatchesInsertion checks the in-place merge against
// insertion one range at a time, for ranges in any order and overlap.
func FuzzMergeHitsMatchesInsertion(f *testing.F) {
	f.Add([]byte{0, 5, 3, 9, 9, 12})
	f.Add([]byte{2, 4, 0, 2, 4, 6, 1, 5})
	f.Add([]byte{0, 10, 2, 3, 3, 4, 11, 12})
	f.Fuzz(func(t *testing.T, b []byte) {
		var all, ref [][2]int
		for i := 0; i+1 < len(b) && len(all) < 40; i += 2 {
			lo, n := int(b[i]%64), int(b[i+1]%8)+1
			h := [2]int{lo, lo + n}
			all = append(all, h)
			ref = insertHitRef(ref, h)
		}
		if len(all) == 0 {
			return
		}
		if got := mergeHits(all); !reflect.DeepEqual(got, ref) {
			t.Fatalf("mergeHits = %v, insertion gives %v", got, ref)
		}
	})
}
