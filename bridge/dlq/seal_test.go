package dlq

import (
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/seal"
)

// testKey returns a fixed key; n picks one of several.
func testKey(t testing.TB, n int) *seal.Key {
	t.Helper()
	k, err := seal.ParseKey(strings.Repeat(string(rune('a'+n)), 64)[:64])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testKeyring(t testing.TB) *seal.Keyring { return seal.NewKeyring(testKey(t, 0)) }
