package jsontext

import (
	"encoding/binary"
	"encoding/json"
	"testing"
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
