package jsontext

import (
	"encoding/binary"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestAppendStringRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "tab\tnl\ncr\r", "\x00\x1f", "é€😀", "\u2028\u2029", "bad\xffutf8"} {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, out, err)
		}
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		if back != want {
			t.Errorf("%q round-trips to %q", s, back)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\n\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("invalid JSON %q: %v", out, err)
		}
		want, _ := json.Marshal(s)
		var w string
		_ = json.Unmarshal(want, &w)
		if back != w {
			t.Fatalf("%q decodes to %q, encoding/json gives %q", s, back, w)
		}
	})
}

func TestPlain8(t *testing.T) {
	for s, want := range map[string]bool{
		"abcdefgh": true, "ABC 123!": true, "~~~~~~~~": true, "abc\"defg": false, "abcdefg\\": false,
		"\x00bcdefgh": false, "abcd\x1fghi": false, "abcdé fg"[:8]: false, "\x7fbcdefgh": true, "        ": true,
	} {
		if got := Plain8(binary.LittleEndian.Uint64([]byte(s))); got != want {
			t.Errorf("Plain8(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzBytesBetween: the word test marks exactly the bytes a byte-by-byte
// test marks, and SkipToByteBetween lands on the first of them.
func FuzzBytesBetween(f *testing.F) {
	f.Add("12345678", byte('0'-1), byte('9'+1))
	f.Add("abcdefgh", byte('A'-1), byte('Z'+1))
	f.Add("\xff\x80\x00\x7f@[/:", byte('A'-1), byte('Z'+1))
	f.Fuzz(func(t *testing.T, s string, lo, hi byte) {
		if lo > 127 || hi > 128 {
			return
		}
		if len(s) >= 8 {
			var want uint64
			for i := 0; i < 8; i++ {
				if s[i] > lo && s[i] < hi {
					want |= 0x80 << (8 * i)
				}
			}
			if got := BytesBetween(Word(s, 0), uint64(lo), uint64(hi)); got != want {
				t.Fatalf("BytesBetween(%q, %d, %d) = %x, want %x", s[:8], lo, hi, got, want)
			}
		}
		first := len(s) - len(s)%8
		for i := 0; i < len(s)-len(s)%8; i++ {
			if s[i] > lo && s[i] < hi {
				first = i
				break
			}
		}
		if got := SkipToByteBetween(s, 0, uint64(lo), uint64(hi)); got != first {
			t.Fatalf("SkipToByteBetween(%q, %d, %d) = %d, want %d", s, lo, hi, got, first)
		}
	})
}

// FuzzAppendUnescapedMatchesStdlib: a string body encoding/json reads is
// read to the same value, unless it holds a lone surrogate escape, which
// AppendUnescaped declines (encoding/json makes it U+FFFD).
func FuzzAppendUnescapedMatchesStdlib(f *testing.F) {
	for _, s := range []string{`plain`, `a\"b\\c\/d`, `\b\f\n\r\t`, `\u00e9\u20AC`, `\ud83d\ude00`, `\x`, `tail\`, `\u12`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var want string
		stdErr := json.Unmarshal([]byte(`"`+body+`"`), &want)
		got, ok := AppendUnescaped(nil, []byte(body))
		if stdErr != nil || !utf8.ValidString(body) {
			return // the splicer sees only valid UTF-8 JSON strings
		}
		if !ok {
			if !loneSurrogateSlow([]byte(body)) {
				t.Fatalf("%q: declined, encoding/json reads %q", body, want)
			}
			return
		}
		if string(got) != want {
			t.Fatalf("%q: %q, encoding/json reads %q", body, got, want)
		}
	})
}

// FuzzSpecialIndex: the word-at-a-time search finds the same byte as a
// byte-by-byte one, from any start.
func FuzzSpecialIndex(f *testing.F) {
	f.Add([]byte(`plain text then a "quote`), 0)
	f.Add([]byte("\x7f\x80\xff\x1f abc\\"), 1)
	f.Add([]byte(`abcdefgh"`), 9)
	f.Fuzz(func(t *testing.T, b []byte, from int) {
		if from < 0 || from > len(b) {
			return
		}
		want := from
		for want < len(b) && b[want] >= 0x20 && b[want] != '"' && b[want] != '\\' {
			want++
		}
		if got := SpecialIndex(b, from); got != want {
			t.Fatalf("SpecialIndex(%q, %d) = %d, want %d", b, from, got, want)
		}
	})
}
