package store

import (
	"strings"
	"testing"
)

// TestRedact: credentials in server URLs never reach a log line or error.
func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://bridge:s3cret@nats-1:4222", "nats://bridge:xxxxx@nats-1:4222"},
		{"nats://s3cret-token@nats-1:4222", "nats://redacted@nats-1:4222"},
		{"nats://a:s3cret@n1:4222,nats://n2:4222, nats://b:s3cret@n3:4222", "nats://a:xxxxx@n1:4222,nats://n2:4222,nats://b:xxxxx@n3:4222"},
	}
	for _, tc := range tests {
		got := Redact(tc.in)
		if got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) leaks the secret: %q", tc.in, got)
		}
	}
}
