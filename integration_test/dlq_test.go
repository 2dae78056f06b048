package integration_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	natsconn "github.com/dmzbridge/dmzbridge/connectors/nats"
)

// flakySink wraps the real NATS ERP sink and fails the messages its fail
// function picks, optionally slowly (like a confirm timeout). It counts
// every attempt per event id.
type flakySink struct {
	inner    bridge.Sink
	mu       sync.Mutex
	fail     func(m *bridge.ERPMessage) error
	slowFail time.Duration
	attempts map[string]int
}

func newFlakySink() *flakySink { return &flakySink{attempts: map[string]int{}} }

func (s *flakySink) setFail(f func(m *bridge.ERPMessage) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *flakySink) attemptsOf(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[id]
}

func (s *flakySink) Publish(ctx context.Context, batch []*bridge.ERPMessage) []error {
	errs := make([]error, len(batch))
	var pass []*bridge.ERPMessage
	var idx []int
	failed := false
	s.mu.Lock()
	for i, m := range batch {
		s.attempts[m.ID]++
		if s.fail != nil {
			if err := s.fail(m); err != nil {
				errs[i], failed = err, true
				continue
			}
		}
		pass, idx = append(pass, m), append(idx, i)
	}
	slow := s.slowFail
	s.mu.Unlock()
	if failed && slow > 0 {
		time.Sleep(slow)
	}
	if len(pass) > 0 {
		for j, err := range s.inner.Publish(ctx, pass) {
			if err != nil {
				errs[idx[j]], failed = err, true
			}
		}
	}
	if !failed {
		return nil
	}
	return errs
}

func (s *flakySink) Ready() error { return s.inner.Ready() }
func (s *flakySink) Close() error { return s.inner.Close() }

// flakyRegistry registers the flaky sink as ERP type "flaky-nats".
func flakyRegistry(s *flakySink) *bridge.Registry {
	r := app.Registry()
	r.RegisterSink("flaky-nats", func(node *yaml.Node, spec bridge.SinkSpec) (bridge.Sink, error) {
		inner, err := natsconn.NewSink(node, spec)
		if err != nil {
			return nil, err
		}
		s.inner = inner
		return s, nil
	})
	return r
}

var errERPDown = errors.New("ERP broker: connection refused")

// dlqPartner is a partner-side NATS server with one JetStream stream.
type dlqPartner struct {
	srv *natsServer
	js  jetstream.JetStream
}

func startDLQPartner(t *testing.T, stream string, subjects ...string) dlqPartner {
	p := dlqPartner{srv: startNATS(t, "")}
	_, p.js = p.srv.js(t)
	createStream(t, p.js, stream, subjects...)
	return p
}

func (p dlqPartner) block(name, subject, stream, extra string) string {
	return fmt.Sprintf(`  - name: %s
    inbound:
      type: nats
      options: {url: %s, subject: %q, stream: %s, durable: in-%s}
%s`, name, p.srv.url(), subject, stream, name, extra)
}

// publish sends events with ids prefix-00000… and waits for their acks.
func (p dlqPartner) publish(t *testing.T, subject, prefix string, n int, header map[string]string, body func(i int) string) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%05d", prefix, i)
		m := nats.NewMsg(subject)
		m.Header.Set(nats.MsgIdHdr, ids[i])
		for k, v := range header {
			m.Header.Set(k, v)
		}
		m.Data = []byte(body(i))
		if _, err := p.js.PublishMsgAsync(m); err != nil {
			t.Fatalf("partner publish: %v", err)
		}
	}
	select {
	case <-p.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("partner publishes not acknowledged")
	}
	return ids
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return st.CachedInfo().State.Msgs
}

// countsByID returns how often the ERP received each id.
func (c *erpCollector) countsByID() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, id := range c.ids {
		out[id]++
	}
	return out
}

// exactlyOnce fails unless every id arrived once and nothing else arrived.
func (c *erpCollector) exactlyOnce(t *testing.T, ids []string) {
	t.Helper()
	counts := c.countsByID()
	for _, id := range ids {
		if counts[id] != 1 {
			t.Errorf("ERP received %s %d times, want exactly once", id, counts[id])
		}
	}
	if len(counts) != len(ids) {
		t.Errorf("ERP received %d distinct ids, want %d", len(counts), len(ids))
	}
}

// TestRetryERPDownThenRecovers: while the ERP is down every event is
// retried with backoff and none is dead-lettered before its attempts are
// used up; after recovery every event is delivered.
func TestRetryERPDownThenRecovers(t *testing.T) {
	partner := startDLQPartner(t, "RETRY_IN", "retry.>")
	erp := natsERP(t)
	sink := newFlakySink()
	sink.setFail(func(*bridge.ERPMessage) error { return errERPDown })
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), strings.Replace(erp.yaml, "type: nats", "type: flaky-nats", 1),
		partner.block("bank-a", "retry.>", "RETRY_IN", "    retry: {initial_delay: 50ms, max_delay: 400ms, max_attempts: 40}"))
	rb := startBridge(t, yaml, app.Options{Registry: flakyRegistry(sink)})
	ids := partner.publish(t, "retry.payment", "retry", 100, nil, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) })

	// Down long enough that every event has failed several times.
	eventually(t, 30*time.Second, "every event retried at least 3 times", func() (bool, string) {
		low := 0
		for _, id := range ids {
			if sink.attemptsOf(id) < 3 {
				low++
			}
		}
		return low == 0, fmt.Sprintf("%d events with fewer than 3 attempts", low)
	})
	if n := streamMsgs(t, rb.b.JetStream(), rb.b.Topology().DeadLetterStream()); n != 0 {
		t.Fatalf("%d events dead-lettered before their 40 attempts were used up", n)
	}
	sink.setFail(nil)
	eventually(t, 30*time.Second, "all events at the ERP after recovery", func() (bool, string) {
		n := erp.collect.distinct()
		return n == len(ids), fmt.Sprintf("%d of %d", n, len(ids))
	})
	erp.collect.exactlyOnce(t, ids)
	if n := streamMsgs(t, rb.b.JetStream(), rb.b.Topology().DeadLetterStream()); n != 0 {
		t.Fatalf("%d events dead-lettered", n)
	}
	for _, id := range ids {
		if a := sink.attemptsOf(id); a >= 40 {
			t.Fatalf("%s took %d attempts", id, a)
		}
	}
}

// TestRetryMaxAttemptsDeadLetters: an event the ERP never confirms is
// tried exactly max_attempts times and then dead-lettered with reason
// max_attempts, its attempts, failure times, identity and trace parent.
func TestRetryMaxAttemptsDeadLetters(t *testing.T) {
	partner := startDLQPartner(t, "MAXATT_IN", "maxatt.>")
	erp := natsERP(t)
	sink := newFlakySink()
	sink.setFail(func(*bridge.ERPMessage) error { return errERPDown })
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), strings.Replace(erp.yaml, "type: nats", "type: flaky-nats", 1),
		partner.block("bank-a", "maxatt.>", "MAXATT_IN", "    retry: {initial_delay: 20ms, max_delay: 100ms, max_attempts: 4}"))
	rb := startBridge(t, yaml, app.Options{Registry: flakyRegistry(sink)})
	tp := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ids := partner.publish(t, "maxatt.payment", "maxatt", 20, map[string]string{"traceparent": tp}, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) })

	js, topo := rb.b.JetStream(), rb.b.Topology()
	eventually(t, 30*time.Second, "every event dead-lettered", func() (bool, string) {
		n := streamMsgs(t, js, topo.DeadLetterStream())
		return n == uint64(len(ids)), fmt.Sprintf("%d of %d", n, len(ids))
	})
	st, err := js.Stream(context.Background(), topo.DeadLetterStream())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for seq := uint64(1); seq <= uint64(len(ids)); seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		h := m.Header
		id := h.Get(bridge.HeaderOriginalID)
		seen[id] = true
		for k, want := range map[string]string{
			bridge.HeaderReason: bridge.ReasonMaxAttempts, bridge.HeaderAttempt: "4", bridge.HeaderPartner: "bank-a",
			bridge.HeaderSource: "nats", bridge.HeaderFailedIn: bridge.FailedAtForward,
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", id, k, got, want)
			}
		}
		// The bridge's spans are children in the partner's trace: the trace
		// id is the partner's, the parent span id is the bridge's own.
		if got := audit.TraceID(h.Get(bridge.HeaderTraceParent)); got != audit.TraceID(tp) {
			t.Errorf("%s: traceparent %q is not in the partner's trace %q", id, h.Get(bridge.HeaderTraceParent), tp)
		}
		if !strings.Contains(h.Get(bridge.HeaderError), "connection refused") {
			t.Errorf("%s: error detail %q", id, h.Get(bridge.HeaderError))
		}
		first, err1 := time.Parse(time.RFC3339Nano, h.Get(bridge.HeaderFirstFailure))
		last, err2 := time.Parse(time.RFC3339Nano, h.Get(bridge.HeaderLastFailure))
		if err1 != nil || err2 != nil || !last.After(first) {
			t.Errorf("%s: first failure %q, last %q", id, h.Get(bridge.HeaderFirstFailure), h.Get(bridge.HeaderLastFailure))
		}
		if a := sink.attemptsOf(id); a != 4 {
			t.Errorf("%s tried %d times, want exactly 4", id, a)
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("%s has no dead-letter entry", id)
		}
	}
	// Dead-lettered events are acknowledged: none is left for the ERP.
	// (They stay stored for the duplicate window, so a copy is still
	// recognised after a restart.)
	eventually(t, 10*time.Second, "dead-lettered events acknowledged", func() (bool, string) {
		cons, err := js.Consumer(context.Background(), topo.IngestStream(), topo.ForwarderConsumer("bank-a"))
		if err != nil {
			return false, err.Error()
		}
		info, err := cons.Info(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return info.NumPending+uint64(info.NumAckPending) == 0, fmt.Sprintf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
	})
	if n := erp.collect.distinct(); n != 0 {
		t.Errorf("ERP received %d events from a sink that always failed", n)
	}
}

// TestRetryNoHeadOfLineAcrossPartners: one partner's events fail slowly
// at the ERP and are retried for ever; the other partner's events all go
// through meanwhile.
func TestRetryNoHeadOfLineAcrossPartners(t *testing.T) {
	partner := startDLQPartner(t, "HOL_IN", "hol.>")
	erp := natsERP(t)
	sink := newFlakySink()
	sink.slowFail = 300 * time.Millisecond
	sink.setFail(func(m *bridge.ERPMessage) error {
		if m.Partner == "bank-a" {
			return errERPDown
		}
		return nil
	})
	retry := "    retry: {initial_delay: 50ms, max_delay: 200ms, max_attempts: -1}"
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), strings.Replace(erp.yaml, "type: nats", "type: flaky-nats", 1),
		partner.block("bank-a", "hol.bank.>", "HOL_IN", retry),
		partner.block("dealer-c", "hol.dealer.>", "HOL_IN", retry))
	rb := startBridge(t, yaml, app.Options{Registry: flakyRegistry(sink)})
	bankIDs := partner.publish(t, "hol.bank.payment", "bank", 300, nil, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) })
	eventually(t, 20*time.Second, "bank-a failing at the ERP", func() (bool, string) {
		a := sink.attemptsOf(bankIDs[0])
		return a >= 2, fmt.Sprintf("%d attempts", a)
	})
	dealerIDs := partner.publish(t, "hol.dealer.order", "dealer", 300, nil, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) })
	eventually(t, 30*time.Second, "all dealer-c events at the ERP while bank-a fails", func() (bool, string) {
		counts := erp.collect.countsByID()
		n := 0
		for _, id := range dealerIDs {
			if counts[id] > 0 {
				n++
			}
		}
		return n == len(dealerIDs), fmt.Sprintf("%d of %d", n, len(dealerIDs))
	})
	// bank-a is still failing: none of its events arrived, none was given
	// up, and they are still being retried.
	before := sink.attemptsOf(bankIDs[0])
	eventually(t, 20*time.Second, "bank-a still retried", func() (bool, string) {
		a := sink.attemptsOf(bankIDs[0])
		return a > before, fmt.Sprintf("%d attempts (was %d)", a, before)
	})
	for _, id := range bankIDs {
		if erp.collect.countsByID()[id] != 0 {
			t.Fatalf("bank-a event %s reached a failing ERP", id)
		}
	}
	if n := streamMsgs(t, rb.b.JetStream(), rb.b.Topology().DeadLetterStream()); n != 0 {
		t.Fatalf("%d events dead-lettered with unlimited attempts", n)
	}
	// And once the ERP takes bank-a again, its backlog drains.
	sink.setFail(nil)
	eventually(t, 30*time.Second, "bank-a backlog delivered", func() (bool, string) {
		n := erp.collect.distinct()
		return n == len(bankIDs)+len(dealerIDs), fmt.Sprintf("%d of %d", n, len(bankIDs)+len(dealerIDs))
	})
}

// cliBinary builds the dmzbridge command for tests that run it as
// operators do.
func cliBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dmzbridge")
	out, err := exec.Command("go", "build", "-o", path, "github.com/dmzbridge/dmzbridge/cmd/dmzbridge").CombinedOutput()
	if err != nil {
		t.Fatalf("build dmzbridge: %v\n%s", err, out)
	}
	return path
}

func runCLIBinary(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return string(out), code
}

// TestReplayAfterSchemaFix: events rejected by a too strict schema are
// dead-lettered; the schema file is fixed; `dmzbridge dlq replay` runs the
// validation again with the new schema and every event reaches the ERP
// exactly once, the replay recorded in the audit trail.
func TestReplayAfterSchemaFix(t *testing.T) {
	bin := cliBinary(t)
	schemas := t.TempDir()
	schema := func(colors string) {
		body := `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://schemas.test/widget.made.v1.json",` +
			`"type":"object","required":["widget_id","color"],"properties":{"widget_id":{"type":"string"},"color":{"enum":[` + colors + `]}}}`
		if err := os.WriteFile(filepath.Join(schemas, "widget.made.v1.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	schema(`"red","blue"`)
	partner := startDLQPartner(t, "FIX_IN", "fix.>")
	erp := natsERP(t)
	cfgYAML := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.yaml,
		partner.block("maker-w", "fix.>", "FIX_IN", "    allowed_types: [widget.made]")) + "schemas_dir: " + schemas + "\n"
	cfgPath := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	rb := startBridge(t, cfgYAML, app.Options{})
	hdr := map[string]string{"Event-Type": "widget.made"}
	good := partner.publish(t, "fix.widget", "good", 10, hdr, func(i int) string { return fmt.Sprintf(`{"widget_id":"W%d","color":"red"}`, i) })
	green := partner.publish(t, "fix.widget", "green", 10, hdr, func(i int) string { return fmt.Sprintf(`{"widget_id":"G%d","color":"green"}`, i) })
	js, topo := rb.b.JetStream(), rb.b.Topology()
	eventually(t, 30*time.Second, "valid events at the ERP and green ones dead-lettered", func() (bool, string) {
		n, d := erp.collect.distinct(), streamMsgs(t, js, topo.DeadLetterStream())
		return n == 10 && d == 10, fmt.Sprintf("%d at the ERP, %d dead-lettered", n, d)
	})

	// Before the fix a replay leaves every entry where it is (exit 5).
	out, code := runCLIBinary(t, bin, "dlq", "replay", "--config", cfgPath, "--reason", "schema_invalid", "--operator", "alice")
	if code != 5 || !strings.Contains(out, "10 still rejected") {
		t.Fatalf("replay before the fix: exit %d\n%s", code, out)
	}
	out, code = runCLIBinary(t, bin, "dlq", "replay", "--config", cfgPath, "--reason", "schema_invalid", "--dry-run")
	if code != 5 || !strings.Contains(out, "10 would be rejected") {
		t.Fatalf("dry run before the fix: exit %d\n%s", code, out)
	}

	schema(`"red","blue","green"`)
	out, code = runCLIBinary(t, bin, "dlq", "replay", "--config", cfgPath, "--reason", "schema_invalid", "--dry-run")
	if code != 0 || !strings.Contains(out, "10 would replay") || streamMsgs(t, js, topo.DeadLetterStream()) != 10 {
		t.Fatalf("dry run after the fix: exit %d\n%s", code, out)
	}
	out, code = runCLIBinary(t, bin, "dlq", "replay", "--config", cfgPath, "--reason", "schema_invalid", "--operator", "alice")
	if code != 0 || !strings.Contains(out, "10 selected: 10 replayed") {
		t.Fatalf("replay after the fix: exit %d\n%s", code, out)
	}
	eventually(t, 30*time.Second, "replayed events at the ERP", func() (bool, string) {
		n := erp.collect.distinct()
		return n == 20, fmt.Sprintf("%d of 20", n)
	})
	// Give a duplicate time to show up before counting.
	time.Sleep(time.Second)
	erp.collect.exactlyOnce(t, append(good, green...))
	if n := streamMsgs(t, js, topo.DeadLetterStream()); n != 0 {
		t.Fatalf("%d entries left after the replay", n)
	}
	recs, err := audit.Query(context.Background(), js, topo, audit.Filter{Partner: "maker-w", Action: audit.ActionReplayed})
	if err != nil {
		t.Fatal(err)
	}
	replayed := 0
	for _, r := range recs {
		if r.Operator != "alice" {
			t.Errorf("audit record without the operator: %+v", r)
		}
		if r.Outcome == "replayed" {
			replayed++
		}
	}
	if replayed != 10 {
		t.Fatalf("audit trail holds %d replayed records, want 10 (%d records)", replayed, len(recs))
	}
}

// TestReplayKilledAndRerun: a replay killed with SIGKILL in the middle and
// run again delivers every dead-lettered event exactly once.
func TestReplayKilledAndRerun(t *testing.T) {
	bin := cliBinary(t)
	partner := startDLQPartner(t, "KILL_IN", "kill.>")
	erp := natsERP(t)
	sink := newFlakySink()
	var down atomic.Bool
	down.Store(true)
	sink.setFail(func(*bridge.ERPMessage) error {
		if down.Load() {
			return errERPDown
		}
		return nil
	})
	cfgYAML := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), strings.Replace(erp.yaml, "type: nats", "type: flaky-nats", 1),
		partner.block("bank-a", "kill.>", "KILL_IN", "    retry: {max_attempts: 1}"))
	cfgPath := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	rb := startBridge(t, cfgYAML, app.Options{Registry: flakyRegistry(sink)})
	const total = 200
	ids := partner.publish(t, "kill.payment", "kill", total, nil, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) })
	js, topo := rb.b.JetStream(), rb.b.Topology()
	eventually(t, 30*time.Second, "every event dead-lettered after its one attempt", func() (bool, string) {
		n := streamMsgs(t, js, topo.DeadLetterStream())
		return n == total, fmt.Sprintf("%d of %d", n, total)
	})
	down.Store(false)

	cmd := exec.Command(bin, "dlq", "replay", "--config", cfgPath, "--all", "--rate", "50")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "replay under way", func() (bool, string) {
		n := streamMsgs(t, js, topo.DeadLetterStream())
		return n <= total-30, fmt.Sprintf("%d entries left", n)
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	left := streamMsgs(t, js, topo.DeadLetterStream())
	if left == 0 {
		t.Fatal("the replay finished before it was killed; nothing was interrupted")
	}
	t.Logf("killed with %d of %d entries left", left, total)

	out, code := runCLIBinary(t, bin, "dlq", "replay", "--config", cfgPath, "--all")
	if code != 0 {
		t.Fatalf("re-run: exit %d\n%s", code, out)
	}
	eventually(t, 30*time.Second, "every event at the ERP", func() (bool, string) {
		n := erp.collect.distinct()
		return n == total, fmt.Sprintf("%d of %d", n, total)
	})
	time.Sleep(time.Second)
	erp.collect.exactlyOnce(t, ids)
	if n := streamMsgs(t, js, topo.DeadLetterStream()); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}
