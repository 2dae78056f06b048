package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

func runAudit(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := &cobra.Command{Use: "dmzbridge", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newAuditCmd())
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(append([]string{"audit"}, args...))
	err := root.ExecuteContext(context.Background())
	return stdout.String() + stderr.String(), exitCodeOf(err)
}

// TestAuditCommand: `dmzbridge audit` reads the trail straight from
// JetStream and filters by partner, message id and action, as a table or
// one JSON record per line; a bad time is a usage error.
func TestAuditCommand(t *testing.T) {
	url, js := dlqServer(t)
	w := audit.NewWriter(js, store.NewTopology("DMZ"), audit.WriterOptions{FlushInterval: 10 * time.Millisecond})
	at := time.Now().Add(-time.Hour).UTC()
	for i, r := range []audit.Record{
		{Action: audit.ActionReceived, Partner: "bank-a", MessageID: "m-1", Outcome: "stored"},
		{Action: audit.ActionForwarded, Partner: "bank-a", MessageID: "m-1", Outcome: "confirmed"},
		{Action: audit.ActionReceived, Partner: "dealer-c", MessageID: "d-1", Outcome: "stored"},
		{Action: audit.ActionReplayed, Partner: "bank-a", MessageID: "m-2", Outcome: "stored", Operator: "alice"},
	} {
		r.Time = at.Add(time.Duration(i) * time.Second)
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "bridge.yaml", fmt.Sprintf(`environment: test
jetstream: {url: %q, durability: relaxed, replicas: 1}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - {name: bank-a, inbound: {type: nats, options: {url: "nats://p:4222", subject: "bank.>"}}}
  - {name: dealer-c, inbound: {type: nats, options: {url: "nats://p:4222", subject: "dealer.>"}}}
`, url))

	out, code := runAudit(t, "--config", cfg, "--partner", "bank-a", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var got []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON record: %q", line)
		}
		got = append(got, r)
	}
	if len(got) != 3 {
		t.Fatalf("--partner bank-a gave %d records, want 3:\n%s", len(got), out)
	}
	for _, r := range got {
		if r.Partner != "bank-a" {
			t.Errorf("record of %s under --partner bank-a", r.Partner)
		}
	}

	out, code = runAudit(t, "--config", cfg, "--action", "replayed")
	if code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "m-2") || !strings.Contains(out, "1 records") {
		t.Fatalf("--action replayed (exit %d):\n%s", code, out)
	}
	out, code = runAudit(t, "--config", cfg, "--id", "m-1", "--since", "2h")
	if code != 0 || !strings.Contains(out, "2 records") || strings.Contains(out, "d-1") {
		t.Fatalf("--id m-1 --since 2h (exit %d):\n%s", code, out)
	}
	if out, code = runAudit(t, "--config", cfg, "--since", "yesterday"); code != 2 {
		t.Fatalf("--since yesterday: exit %d, want 2 (usage):\n%s", code, out)
	}
}
