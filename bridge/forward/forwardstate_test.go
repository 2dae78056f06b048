package forward

import (
	"errors"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// TestForwarderStatesErr: readiness fails while any forwarder is not up,
// naming it and why; it passes once every one consumes.
func TestForwarderStatesErr(t *testing.T) {
	s := NewStates([]string{"bank-a", "dealer-c"})
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "forwarder bank-a connecting") {
		t.Fatalf("before starting: %v", err)
	}
	if err := s.Err(); strings.Count(err.Error(), "; ") != 1 || strings.Contains(err.Error(), "\n") {
		t.Fatalf("two partners not up must read as one line: %q", err)
	}
	s.set("bank-a", bridge.StateUp, nil)
	s.set("dealer-c", bridge.StateDown, errors.New("consumer erp-dealer-c: consumer deleted"))
	err := s.Err()
	if err == nil || strings.Contains(err.Error(), "bank-a") || !strings.Contains(err.Error(), "forwarder dealer-c down since") ||
		!strings.Contains(err.Error(), "consumer deleted") {
		t.Fatalf("one down: %v", err)
	}
	if got := s.Reporter("dealer-c").State(); got != bridge.StateDown {
		t.Fatalf("reporter: %q", got)
	}
	s.set("dealer-c", bridge.StateUp, nil)
	if err := s.Err(); err != nil {
		t.Fatalf("all up: %v", err)
	}
	if got := s.State("nobody"); got != bridge.StateDown {
		t.Fatalf("unknown partner: %q", got)
	}
}
