package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

var raw32 = bytes.Repeat([]byte{7}, 32)

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"base64", base64.StdEncoding.EncodeToString(raw32), true},
		{"base64 with newline", base64.StdEncoding.EncodeToString(raw32) + "\n", true},
		{"url base64 unpadded", base64.RawURLEncoding.EncodeToString(raw32), true},
		{"hex", hex.EncodeToString(raw32), true},
		{"too short", base64.StdEncoding.EncodeToString(raw32[:16]), false},
		{"empty", "  \n", false},
		{"garbage", "not a key at all!", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey(tc.text)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSpace(tc.text)) && strings.TrimSpace(tc.text) != "" {
				t.Fatalf("error quotes the key text: %v", err)
			}
			if tc.ok {
				want, _ := NewKey(raw32)
				if k.ID != want.ID {
					t.Fatalf("id %s, want %s: encodings of one key must share its id", k.ID, want.ID)
				}
			}
		})
	}
}

func key(t *testing.T, b byte) *Key {
	t.Helper()
	k, err := NewKey(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	a, b := key(t, 1), key(t, 2)
	if a.ID == b.ID {
		t.Fatal("two keys share an id")
	}
	old := NewKeyring(a)
	id, box := old.Seal([]byte("aad"), []byte("secret IBAN DE89370400440532013000"))
	if id != a.ID || bytes.Contains(box, []byte("DE89")) {
		t.Fatalf("id %s, box %q", id, box)
	}
	// Same plaintext twice: different boxes (random nonce).
	if _, box2 := old.Seal([]byte("aad"), []byte("secret IBAN DE89370400440532013000")); bytes.Equal(box, box2) {
		t.Fatal("two seals of one plaintext are equal")
	}
	rotated := NewKeyring(b, a)
	for _, tc := range []struct {
		name string
		ring *Keyring
		id   string
		aad  string
		box  []byte
		want error
	}{
		{"old key listed", rotated, id, "aad", box, nil},
		{"sealing keyring", old, id, "aad", box, nil},
		{"no keyring", nil, id, "aad", box, ErrNoKey},
		{"old key dropped", NewKeyring(b), id, "aad", box, ErrUnknownKey},
		{"other metadata", rotated, id, "aad2", box, ErrOpen},
		{"tampered", rotated, id, "aad", append(append([]byte{}, box[:len(box)-1]...), box[len(box)-1]^1), ErrOpen},
		{"id of another key", rotated, b.ID, "aad", box, ErrOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.ring.Open(tc.id, []byte(tc.aad), tc.box)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if err == nil && string(got) != "secret IBAN DE89370400440532013000" {
				t.Fatalf("opened %q", got)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "k")
	if err := os.WriteFile(file, []byte(hex.EncodeToString(raw32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CUR": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)), "BAD": "xyz"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name    string
		cfg     config.DeadLetter
		wantErr string
		nilRing bool
		keys    int
	}{
		{"none", config.DeadLetter{}, "", true, 0},
		{"env", config.DeadLetter{SealKeySource: config.SealKeySource{Env: "CUR"}}, "", false, 1},
		{"env with old file", config.DeadLetter{SealKeySource: config.SealKeySource{Env: "CUR"}, OldKeys: []config.SealKeySource{{File: file}}}, "", false, 2},
		{"unset env", config.DeadLetter{SealKeySource: config.SealKeySource{Env: "NOPE"}}, "environment variable NOPE is not set", false, 0},
		{"bad env", config.DeadLetter{SealKeySource: config.SealKeySource{Env: "BAD"}}, "dead_letter: sealing key is", false, 0},
		{"missing file", config.DeadLetter{SealKeySource: config.SealKeySource{File: filepath.Join(dir, "nope")}}, "seal_key_file", false, 0},
		{"bad old key", config.DeadLetter{SealKeySource: config.SealKeySource{Env: "CUR"}, OldKeys: []config.SealKeySource{{Env: "BAD"}}}, "dead_letter.old_keys[0]", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Load(tc.cfg, getenv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "xyz") {
					t.Fatalf("error quotes the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (k == nil) != tc.nilRing {
				t.Fatalf("keyring %v", k)
			}
			if k != nil && len(k.byID) != tc.keys {
				t.Fatalf("%d keys, want %d", len(k.byID), tc.keys)
			}
		})
	}
}
