// Package seal encrypts dead-letter entries at rest with AES-256-GCM
// (crypto/aes and crypto/cipher). A Keyring holds the current key, which
// seals, and older keys, which only open, so keys can rotate while sealed
// entries stay readable.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

var (
	// ErrNoKey: the entry is sealed and no keyring was given.
	ErrNoKey = errors.New("dead-letter entry is sealed and no sealing key is configured (dead_letter.seal_key_env or seal_key_file)")
	// ErrUnknownKey: the entry is sealed under a key that is neither the
	// current key nor one of old_keys.
	ErrUnknownKey = errors.New("dead-letter entry is sealed under a key that is not configured (add it to dead_letter.old_keys)")
	// ErrOpen: authentication failed: wrong key material for the id, or
	// ciphertext or bound metadata changed.
	ErrOpen = errors.New("dead-letter entry cannot be opened: the key does not match or the entry was altered")
)

// Key is one AES-256-GCM key with its id. The id is derived from the key
// itself, so an operator never has to name keys and an id never reveals
// the key.
type Key struct {
	ID   string
	aead cipher.AEAD
}

// NewKey builds a key from 32 raw bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("sealing key is %d bytes, want %d (AES-256)", len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	// A random 96-bit nonce per entry, prepended to the ciphertext: entries
	// are sealed by independent processes, so a counter cannot be shared.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	sum := sha256.Sum256(append([]byte("dmzbridge dead-letter key id\x00"), raw...))
	return &Key{ID: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// ParseKey reads a key written as base64 (standard or URL alphabet, 44
// characters) or hex (64 characters); surrounding space is ignored so a
// file may end in a newline.
func ParseKey(text string) (*Key, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return nil, errors.New("sealing key is empty")
	}
	if len(s) == 2*KeySize {
		if raw, err := hex.DecodeString(s); err == nil {
			return NewKey(raw)
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			return NewKey(raw)
		}
	}
	return nil, fmt.Errorf("sealing key is neither %d bytes of base64 nor %d hex digits (make one with: openssl rand -base64 32)", KeySize, 2*KeySize)
}

// Keyring seals with its current key and opens with any of its keys.
type Keyring struct {
	current *Key
	byID    map[string]*Key
}

// NewKeyring builds a keyring; old keys only open.
func NewKeyring(current *Key, old ...*Key) *Keyring {
	k := &Keyring{current: current, byID: map[string]*Key{current.ID: current}}
	for _, o := range old {
		if _, dup := k.byID[o.ID]; !dup {
			k.byID[o.ID] = o
		}
	}
	return k
}

// CurrentID is the id of the key that seals.
func (k *Keyring) CurrentID() string { return k.current.ID }

// Seal encrypts plaintext under the current key, binding aad, and returns
// the key id and nonce||ciphertext||tag.
func (k *Keyring) Seal(aad, plaintext []byte) (string, []byte) {
	return k.current.ID, k.current.aead.Seal(nil, nil, plaintext, aad)
}

// Open decrypts what Seal returned under key id. A nil keyring fails with
// ErrNoKey.
func (k *Keyring) Open(id string, aad, sealed []byte) ([]byte, error) {
	if k == nil {
		return nil, ErrNoKey
	}
	key, ok := k.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: key id %s", ErrUnknownKey, id)
	}
	out, err := key.aead.Open(nil, nil, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("%w (key id %s)", ErrOpen, id)
	}
	return out, nil
}

// Load reads the keys the configuration names. It returns nil and no
// error when no sealing key is configured (the config check decides
// whether that is allowed).
func Load(c config.DeadLetter, getenv func(string) string) (*Keyring, error) {
	if !c.Sealed() {
		return nil, nil
	}
	cur, err := loadOne("dead_letter", c.SealKeySource, getenv)
	if err != nil {
		return nil, err
	}
	var old []*Key
	var errs []error
	for i, src := range c.OldKeys {
		k, err := loadOne(fmt.Sprintf("dead_letter.old_keys[%d]", i), src, getenv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		old = append(old, k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return NewKeyring(cur, old...), nil
}

func loadOne(path string, src config.SealKeySource, getenv func(string) string) (*Key, error) {
	var text string
	switch {
	case src.Env != "":
		text = getenv(src.Env)
		if strings.TrimSpace(text) == "" {
			return nil, fmt.Errorf("%s.seal_key_env: environment variable %s is not set", path, src.Env)
		}
	case src.File != "":
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("%s.seal_key_file: %w", path, err)
		}
		text = string(b)
	default:
		return nil, fmt.Errorf("%s: set seal_key_env or seal_key_file", path)
	}
	k, err := ParseKey(text)
	if err != nil {
		// The error never quotes the key text.
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
