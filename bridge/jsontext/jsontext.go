package jsontext

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028/U+2029
// escaped. It is what encoding/json writes, without its reflection cost
// and without HTML escaping.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && Plain8(Word(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 break JavaScript consumers of the JSON.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Plain8 reports whether none of the eight bytes of w (little endian) is
// a control character, a quote, a backslash or non-ASCII: eight
// characters that need no escaping.
func Plain8(w uint64) bool {
	return (special8(w)|w)&highs == 0
}

const ones, highs = 0x0101010101010101, 0x8080808080808080

// special8 returns w with the high bit set of each byte that is a control
// character, a quote or a backslash, by the classic SWAR tests for a zero
// or small byte. A borrow can mark a byte above a marked one falsely, never
// one below, so the lowest mark is exact: all a search needs.
func special8(w uint64) uint64 {
	q, bs := w^(ones*'"'), w^(ones*'\\') // zero bytes where w has a quote, a backslash
	return ((w - ones*0x20) | (q - ones) | (bs - ones)) &^ w & highs
}

// SpecialIndex returns the index of the first byte of b from i that is a
// quote, a backslash or a control character, or len(b): the end of the
// string content a reader can take in bulk, found eight bytes at a time.
// Bytes beyond ASCII are content to it.
func SpecialIndex(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := special8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == '"' || c == '\\' {
			return i
		}
	}
	return i
}

// Word is the eight bytes of s from i as a little-endian word (the
// compiler makes it one load); i+8 must not pass len(s).
func Word(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// BytesBetween returns w with the high bit of each byte b set where lo <
// b < hi, and nothing else; lo and hi at most 127 and 128. Each byte is
// computed on its own (no borrow or carry crosses bytes), so the lowest
// set bit marks the first such byte exactly (Bit Twiddling Hacks'
// hasbetween).
func BytesBetween(w uint64, lo, hi uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return (ones*(127+hi) - (w & low7)) &^ w & ((w & low7) + ones*(127-lo)) & highs
}

// SkipToByteBetween returns the index of the first byte of s from i with
// lo < b < hi, eight bytes at a time, or the start of the last partial
// word when there is none in the whole words.
func SkipToByteBetween(s string, i int, lo, hi uint64) int {
	for i+8 <= len(s) {
		if m := BytesBetween(Word(s, i), lo, hi); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	return i
}

// View is b as a string without a copy, for bytes a parser or scratch
// buffer owns and that do not change while the string is in use; it must
// not be kept beyond that.
func View(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// SkipSpace returns the index of the first byte of b from i that is not
// JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// AppendUnescaped appends the value of the JSON string body raw (the text
// between its quotes) to dst. ok is false for a malformed escape or a
// lone UTF-16 surrogate, which encodes no character (the tape reader
// refuses both).
func AppendUnescaped(dst, raw []byte) (out []byte, ok bool) {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			return append(dst, raw[i:]...), true
		}
		dst = append(dst, raw[i:i+j]...)
		i += j
		if i+1 >= len(raw) {
			return dst, false
		}
		switch c := raw[i+1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if i+6 > len(raw) {
				return dst, false
			}
			r, hexOK := hex4(raw[i+2 : i+6])
			if !hexOK {
				return dst, false
			}
			if !utf16.IsSurrogate(r) {
				dst = utf8.AppendRune(dst, r)
				i += 6
				continue
			}
			// Only a high surrogate escape followed by a low one is a
			// character.
			if r >= 0xdc00 || i+12 > len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
				return dst, false
			}
			lo, hexOK := hex4(raw[i+8 : i+12])
			if !hexOK || lo < 0xdc00 || lo > 0xdfff {
				return dst, false
			}
			dst = utf8.AppendRune(dst, utf16.DecodeRune(r, lo))
			i += 12
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

// hex4 reads four hex digits.
func hex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
