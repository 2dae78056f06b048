package integration_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/demo"
)

// TestDemoRun runs the demo end to end: embedded JetStream, NATS partners
// and ERP, as `dmzbridge demo` does.
func TestDemoRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded JetStream")
	}
	var buf bytes.Buffer
	if err := demo.Run(context.Background(), demo.Options{Out: &buf, PerPartner: 50}); err != nil {
		t.Fatalf("demo: %v\n%s", err, buf.String())
	}
	out := buf.String()
	// One event in ten is invalid on purpose, one of each reason per
	// partner; the three type_not_allowed ones are replayed after the
	// operator allows the type and then reach the ERP too.
	for _, want := range []string{
		"summary: sent 150", "dead-lettered 15, arrived at ERP 138",
		"type_not_allowed 3", "replayed 3 after", "12 left in the dead-letter stream", `"iban": "****`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("demo summary wrong:\n%s", out)
	}
}
