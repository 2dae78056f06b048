package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/dlq"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// dlqServer is an embedded JetStream holding the bridge's streams under
// the default prefix.
func dlqServer(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	srv, js := bridgetest.StartJetStream(t)
	topo := store.NewTopology("DMZ")
	jsCfg := config.JetStream{Replicas: 1, DuplicateWindow: time.Minute}
	if err := topo.EnsureStreams(context.Background(), js, jsCfg); err != nil {
		t.Fatal(err)
	}
	if err := audit.EnsureStream(context.Background(), js, topo, jsCfg, config.Retention{}); err != nil {
		t.Fatal(err)
	}
	return srv.URL(), js
}

var goldenBase = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// seedDLQ stores four entries with fixed times, so outputs are stable.
func seedDLQ(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	topo := store.NewTopology("DMZ")
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	entries := []struct {
		env *bridge.Envelope
		f   store.Failure
	}{
		{&bridge.Envelope{ID: "bank-a-0001", Partner: "bank-a", Source: "nats", EventType: "payment.received", ReceivedAt: goldenBase,
			Headers: map[string]string{bridge.HeaderTraceParent: tp, "Event-Type": "payment.received", "X-Api-Key": "k-123456"},
			Payload: []byte(`{"amount":"12.50","currency":"EUR","payer":{"name":"Ada","iban":"DE89370400440532013000","email":"ada@example.com"},"note":"call +49 30 1234567 or mail ada@example.com"}`)},
			store.Failure{Rejection: bridge.Reject(bridge.ReasonSchemaInvalid, "/payer/iban: 'DE89370400440532013000' does not match pattern"), Last: goldenBase.Add(time.Second), In: bridge.FailedAtIntake}},
		{&bridge.Envelope{ID: "bank-a-0002", Partner: "bank-a", Source: "nats", EventType: "payment.received", ReceivedAt: goldenBase, Attempt: 20,
			Headers: map[string]string{bridge.HeaderTraceParent: tp}, Payload: []byte(`{"amount":"99.00","currency":"EUR"}`)},
			store.Failure{Rejection: bridge.Reject(bridge.ReasonMaxAttempts, "ERP sink did not confirm after 20 attempts: connection refused"),
				First: goldenBase.Add(2 * time.Second), Last: goldenBase.Add(time.Hour), In: bridge.FailedAtForward, Key: "s7"}},
		{&bridge.Envelope{ID: "dealer-c-0001", Partner: "dealer-c", Source: "amqp", ReceivedAt: goldenBase.Add(2 * time.Hour),
			Headers: map[string]string{}, Payload: []byte("not json at all 4111 1111 1111 1111")},
			store.Failure{Rejection: bridge.Reject(bridge.ReasonMalformed, "invalid character 'o' in literal null"), Last: goldenBase.Add(2 * time.Hour), In: bridge.FailedAtIntake}},
		{&bridge.Envelope{ID: "logistics-b-0001", Partner: "logistics-b", Source: "kafka", EventType: "shipment.dispatched", ReceivedAt: goldenBase.Add(3 * time.Hour),
			Headers: map[string]string{}, Payload: []byte(`{"shipment":"S-1","phone":"+49 170 0000000"}`)},
			store.Failure{Rejection: bridge.Reject(bridge.ReasonSchemaInvalid, "missing property carrier"), Last: goldenBase.Add(3 * time.Hour), In: bridge.FailedAtIntake}},
	}
	for _, e := range entries {
		msg := store.DeadLetterEntry(topo.DeadLetterSubject(e.env.Partner), e.env, e.f)
		if _, err := js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
}

// runDlq runs the dlq command with deps and returns stdout, stderr and the
// exit code as main would compute it.
func runDlq(t *testing.T, deps dlqDeps, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	deps.stderr = &stderr
	root := &cobra.Command{Use: "dmzbridge", SilenceUsage: true, SilenceErrors: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newDlqCmd(deps))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(append([]string{"dlq"}, args...))
	err := root.ExecuteContext(context.Background())
	if err != nil {
		fmt.Fprintln(&stderr, "dmzbridge:", err)
	}
	return stdout.String(), stderr.String(), exitCodeOf(err)
}

// exitCodeOf is exitCode without its printing.
func exitCodeOf(err error) int {
	old := os.Stderr
	devnull, _ := os.Open(os.DevNull)
	os.Stderr = devnull
	defer func() { os.Stderr = old; devnull.Close() }()
	return exitCode(err)
}

func testDeps() dlqDeps {
	d := defaultDlqDeps()
	d.now = func() time.Time { return goldenBase.Add(4 * time.Hour) }
	d.progressEvery = 200 * time.Millisecond
	return d
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Fatalf("output differs from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestDlqGolden(t *testing.T) {
	url, js := dlqServer(t)
	seedDLQ(t, js)
	cases := []struct {
		name string
		args []string
	}{
		{"list", []string{"list"}},
		{"list_filtered", []string{"list", "--partner", "bank-a", "--reason", "schema_invalid,max_attempts", "--since", "2026-11-23T09:00:00Z", "--until", "2h"}},
		{"list_json", []string{"list", "--json", "--type", "payment.received"}},
		{"list_limit", []string{"list", "--limit", "2", "--reason", "schema_invalid,malformed"}},
		{"show", []string{"show", "1"}},
		{"show_reveal", []string{"show", "1", "--reveal"}},
		{"show_by_event_id", []string{"show", "bank-a-0002"}},
		{"show_not_json", []string{"show", "3"}},
		{"show_json", []string{"show", "4", "--json"}},
		{"stats", []string{"stats"}},
		{"stats_json", []string{"stats", "--json", "--partner", "bank-a"}},
		// A dry run changes nothing, so it can share the seeded stream;
		// its summary counts what would be purged.
		{"purge_dry_run", []string{"purge", "--partner", "bank-a", "--dry-run"}},
		{"purge_dry_run_json", []string{"purge", "--reason", "malformed,schema_invalid", "--dry-run", "--json"}},
	}
	// The partner's masking policy from the config applies in show, on top
	// of the generic rules: the name is masked only by the policy, the
	// IBAN keeps its last four characters as the policy says.
	cfgPath := writeFile(t, "bridge.yaml", fmt.Sprintf(`environment: test
jetstream: {url: %q, durability: relaxed, replicas: 1}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - name: bank-a
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "bank.>"}}
    masking:
      policies:
        - fields: [{path: /payer/name, action: redact}, {path: /payer/iban, action: last4}]
`, url))
	cases = append(cases, struct {
		name string
		args []string
	}{"show_policy", []string{"show", "1", "--config", cfgPath}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runDlq(t, testDeps(), append(tc.args, "--server", url)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, "dlq_"+tc.name, out)
		})
	}
}

// TestDlqShowMasks checks the masked view holds none of the seeded
// sensitive values, and --reveal shows them.
func TestDlqShowMasks(t *testing.T) {
	url, js := dlqServer(t)
	seedDLQ(t, js)
	secrets := []string{"DE89370400440532013000", "ada@example.com", "1234567", "k-123456"}
	for _, args := range [][]string{{"show", "1"}, {"show", "1", "--json"}, {"list", "--json"}} {
		out, errOut, code := runDlq(t, testDeps(), append(args, "--server", url)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%v shows %q unmasked:\n%s", args, s, out)
			}
		}
	}
	out, _, _ := runDlq(t, testDeps(), "show", "1", "--reveal", "--server", url)
	for _, s := range secrets {
		if !strings.Contains(out, s) {
			t.Errorf("--reveal hides %q", s)
		}
	}
}

func TestDlqExitCodes(t *testing.T) {
	url, js := dlqServer(t)
	seedDLQ(t, js)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown entry", []string{"show", "99", "--server", url}, exitNotFound, "dead-letter entry not found: 99"},
		{"unknown event id", []string{"show", "nope", "--server", url}, exitNotFound, "not found: nope"},
		{"purge needs --yes", []string{"purge", "--partner", "bank-a", "--server", url}, exitUsage, "add --yes"},
		{"purge needs a selection", []string{"purge", "--yes", "--server", url}, exitUsage, "--all"},
		{"replay needs a selection", []string{"replay", "--server", url}, exitUsage, "select entries"},
		{"--all excludes filters", []string{"replay", "--all", "--partner", "x", "--server", url}, exitUsage, "cannot be combined"},
		{"bad time", []string{"list", "--since", "yesterday", "--server", url}, exitUsage, "--since"},
		{"show needs an id", []string{"show", "--server", url}, exitUsage, "accepts 1 arg"},
		{"unknown flag", []string{"list", "--colour", "--server", url}, exitUsage, "unknown flag"},
		{"unreachable server", []string{"list", "--server", "nats://127.0.0.1:1", "--timeout", "1s"}, exitFailure, "connect to JetStream"},
		{"wrong prefix", []string{"list", "--prefix", "OTHER", "--server", url}, exitFailure, "dead-letter stream not found: OTHER_DLQ"},
		{"purge unknown id", []string{"purge", "--id", "99", "--yes", "--server", url}, exitNotFound, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runDlq(t, testDeps(), tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tc.code, tc.msg)
			}
		})
	}
}

func TestDlqPurge(t *testing.T) {
	url, js := dlqServer(t)
	seedDLQ(t, js)
	out, _, code := runDlq(t, testDeps(), "purge", "--partner", "bank-a", "--dry-run", "--server", url)
	if code != exitOK || !strings.Contains(out, "would_purge 1 bank-a bank-a-0001") ||
		!strings.Contains(out, "2 selected: 0 replayed, 0 purged,") || !strings.Contains(out, "2 would be purged") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if n := dlqCount(t, js); n != 4 {
		t.Fatalf("dry run deleted entries: %d left", n)
	}
	out, _, code = runDlq(t, testDeps(), "purge", "--partner", "bank-a", "--yes", "--operator", "alice", "--server", url)
	if code != exitOK || !strings.Contains(out, "2 selected: 0 replayed, 2 purged") {
		t.Fatalf("purge: exit %d\n%s", code, out)
	}
	recs, err := audit.Query(context.Background(), js, store.NewTopology("DMZ"), audit.Filter{Partner: "bank-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("audit trail holds %d records, want one per purged entry: %+v", len(recs), recs)
	}
	for i, r := range recs {
		wantID := []string{"bank-a-0001", "bank-a-0002"}[i]
		if r.Action != audit.ActionPurged || r.Operator != "alice" || r.MessageID != wantID || len(r.PayloadSHA256) != 64 {
			t.Errorf("audit record %d: %+v", i, r)
		}
	}
	if n := dlqCount(t, js); n != 2 {
		t.Fatalf("after purge %d entries, want 2", n)
	}
	out, _, _ = runDlq(t, testDeps(), "list", "--server", url)
	if strings.Contains(out, "bank-a") || !strings.Contains(out, "2 entries") {
		t.Fatalf("purged entries still listed:\n%s", out)
	}
}

func dlqCount(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), "DMZ_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

// TestDlqReplayOutcomes: entries that pass today's stages go to the ingest
// stream and leave the DLQ; those still rejected stay, with exit code 5.
func TestDlqReplayOutcomes(t *testing.T) {
	url, js := dlqServer(t)
	seedDLQ(t, js)
	cfgPath := writeFile(t, "bridge.yaml", fmt.Sprintf(`environment: test
jetstream: {url: %q, durability: relaxed, replicas: 1}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - {name: bank-a, inbound: {type: nats, options: {url: "nats://p:4222", subject: "bank.>"}}}
  - {name: dealer-c, inbound: {type: nats, options: {url: "nats://p:4222", subject: "dealer.>"}}}
  - {name: logistics-b, inbound: {type: nats, options: {url: "nats://p:4222", subject: "log.>"}}}
`, url))
	onlyBank := writeFile(t, "bank-only.yaml", fmt.Sprintf(`environment: test
jetstream: {url: %q, durability: relaxed, replicas: 1}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - {name: bank-a, inbound: {type: nats, options: {url: "nats://p:4222", subject: "bank.>"}}}
`, url))
	deps := testDeps()
	deps.stages = func(*config.Config) (*app.Chain, error) {
		return &app.Chain{Intake: []bridge.Stage{bridge.StageFunc{StageName: "schema", Fn: func(_ context.Context, e *bridge.Envelope) error {
			if e.Partner == "logistics-b" {
				return bridge.Reject(bridge.ReasonSchemaInvalid, "missing property carrier")
			}
			if !bytes.HasPrefix(e.Payload, []byte("{")) {
				return bridge.Reject(bridge.ReasonMalformed, "not JSON")
			}
			return nil
		}}}}, nil
	}
	var recorded []string
	deps.recorder = func(context.Context, jetstream.JetStream, store.Topology, *config.Config, string, func() time.Time) (dlq.Recorder, error) {
		return recorderFunc(func(action string, seq uint64, outcome string) {
			recorded = append(recorded, fmt.Sprintf("%s %d %s", action, seq, outcome))
		}), nil
	}

	out, _, code := runDlq(t, deps, "replay", "--all", "--dry-run", "--config", cfgPath)
	if code != exitPartial || !strings.Contains(out, "4 selected: 0 replayed, 0 purged, 0 still rejected, 0 failed, 2 would replay, 2 would be rejected") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if n := dlqCount(t, js); n != 4 || len(recorded) != 0 {
		t.Fatalf("dry run changed something: %d entries, recorded %v", n, recorded)
	}
	// A partner the bridge no longer serves has no forwarder: its entries stay.
	out, _, code = runDlq(t, deps, "replay", "--partner", "dealer-c", "--config", onlyBank)
	if code != exitPartial || !strings.Contains(out, `failed 3 dealer-c dealer-c-0001: partner "dealer-c" is not in the configuration`) {
		t.Fatalf("unknown partner: exit %d\n%s", code, out)
	}
	recorded = nil
	out, errOut, code := runDlq(t, deps, "replay", "--all", "--config", cfgPath, "--operator", "alice")
	if code != exitPartial {
		t.Fatalf("exit %d, want %d (entries left)\n%s\n%s", code, exitPartial, out, errOut)
	}
	for _, want := range []string{"still_rejected 3 dealer-c dealer-c-0001 malformed", "still_rejected 4 logistics-b logistics-b-0001 schema_invalid", "4 selected: 2 replayed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := dlqCount(t, js); n != 2 {
		t.Fatalf("%d entries left, want the 2 still rejected", n)
	}
	ingest, err := js.Stream(context.Background(), "DMZ_INGEST")
	if err != nil {
		t.Fatal(err)
	}
	if n := ingest.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("ingest holds %d events, want 2", n)
	}
	m, err := ingest.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	env, err := store.Decode(m.Subject, m.Header, m.Data)
	if err != nil || env.ID != "bank-a-0001" || m.Header.Get(nats.MsgIdHdr) != "replay-DMZ_DLQ-1" || m.Subject != "dmz.ingest.bank-a" {
		t.Fatalf("replayed event: %+v %v, msg id %q subject %q", env, err, m.Header.Get(nats.MsgIdHdr), m.Subject)
	}
	want := []string{"replay 1 replayed", "replay 2 replayed", "replay 3 still_rejected", "replay 4 still_rejected"}
	if strings.Join(recorded, ";") != strings.Join(want, ";") {
		t.Fatalf("audit records %v, want %v", recorded, want)
	}
	// The replay was recorded; the config is needed for the stages.
	_, errOut, code = runDlq(t, deps, "replay", "--all", "--server", url)
	if code != exitUsage || !strings.Contains(errOut, "--config") {
		t.Fatalf("replay without config: exit %d %s", code, errOut)
	}
}

type recorderFunc func(action string, seq uint64, outcome string)

func (f recorderFunc) Record(_ context.Context, action string, e *dlq.Entry, r dlq.Result) error {
	f(action, e.Seq, string(r.Outcome))
	return nil
}

// TestDlqOpensEmbeddedStoreWhenBridgeIsDown: with an embedded JetStream in
// the config and no bridge running, the CLI opens the store itself, and
// releases it when done.
func TestDlqOpensEmbeddedStoreWhenBridgeIsDown(t *testing.T) {
	port := freeTCPPort(t)
	storeDir := filepath.Join(t.TempDir(), "js")
	cfgPath := writeFile(t, "bridge.yaml", fmt.Sprintf(`environment: test
jetstream: {embedded: true, store_dir: %s, listen: "127.0.0.1:%d"}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - {name: bank-a, inbound: {type: nats, options: {url: "nats://p:4222", subject: "bank.>"}}}
`, storeDir, port))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// A bridge ran once, dead-lettered events, and stopped.
	emb, err := store.StartEmbedded(cfg.JetStream, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(emb.URL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if err := store.NewTopology("DMZ").EnsureStreams(context.Background(), js, cfg.JetStream); err != nil {
		t.Fatal(err)
	}
	seedDLQ(t, js)
	nc.Close()
	emb.Shutdown()

	out, errOut, code := runDlq(t, testDeps(), "list", "--config", cfgPath)
	if code != exitOK || !strings.Contains(out, "4 entries") || !strings.Contains(errOut, "no bridge is running") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// The store was released: a bridge could start on it now.
	emb, err = store.StartEmbedded(cfg.JetStream, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("store still held after the command: %v", err)
	}
	defer emb.Shutdown()
	// And with a server running on the address, the CLI uses it.
	out, errOut, code = runDlq(t, testDeps(), "stats", "--config", cfgPath)
	if code != exitOK || !strings.Contains(out, "TOTAL") || strings.Contains(errOut, "no bridge is running") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDlqReplayRateAndProgress: --rate paces a replay and a replay that
// runs past a second reports progress on stderr before it is done. At 10
// per second with a burst of one, 20 entries need 19 intervals of 100 ms
// (1.9 s); only a lower bound is asserted, so a slow machine cannot make
// the test fail, and the bound sits below 1.9 s to allow timer slack.
func TestDlqReplayRateAndProgress(t *testing.T) {
	const n, perSecond = 20, 10
	const atLeast = 1500 * time.Millisecond
	url, js := dlqServer(t)
	topo := store.NewTopology("DMZ")
	for i := range n {
		env := &bridge.Envelope{ID: fmt.Sprintf("bank-a-%04d", i), Partner: "bank-a", Source: "nats", ReceivedAt: goldenBase,
			Headers: map[string]string{}, Payload: []byte(fmt.Sprintf(`{"seq":%d}`, i))}
		// Forwarder failures go back unchanged, so no stage is involved.
		f := store.Failure{Rejection: bridge.Reject(bridge.ReasonMaxAttempts, "ERP down"), Last: goldenBase, In: bridge.FailedAtForward}
		if _, err := js.PublishMsg(context.Background(), store.DeadLetterEntry(topo.DeadLetterSubject("bank-a"), env, f)); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := writeFile(t, "bridge.yaml", fmt.Sprintf(`environment: test
jetstream: {url: %q, durability: relaxed, replicas: 1}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - {name: bank-a, inbound: {type: nats, options: {url: "nats://p:4222", subject: "bank.>"}}}
`, url))
	deps := testDeps()
	deps.stages = func(*config.Config) (*app.Chain, error) { return &app.Chain{}, nil }
	deps.recorder = nil

	start := time.Now()
	out, errOut, code := runDlq(t, deps, "replay", "--all", "--rate", fmt.Sprint(perSecond), "--config", cfgPath)
	took := time.Since(start)
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("%d selected: %d replayed", n, n)) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if left := dlqCount(t, js); left != 0 {
		t.Fatalf("%d entries left after the replay", left)
	}
	if took < atLeast {
		t.Fatalf("%d entries at --rate %d replayed in %v, want at least %v", n, perSecond, took, atLeast)
	}
	t.Logf("%d entries at --rate %d replayed in %v", n, perSecond, took.Round(time.Millisecond))

	// Progress: at least one line while the replay was under way (the
	// limiter guarantees entries are still left after the first second),
	// and the final count.
	var during, final bool
	for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
		var done, total int
		if _, err := fmt.Sscanf(line, "replay: %d/%d", &done, &total); err != nil || total != n {
			continue
		}
		during = during || (done > 0 && done < n)
		final = final || done == n
	}
	if !during || !final {
		t.Fatalf("stderr lacks progress during the replay (%v) or its final count (%v):\n%s", during, final, errOut)
	}
}
