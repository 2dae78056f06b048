package integration_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// These tests run the real dmzbridge binary (startBridgeProc), because what
// they check lives partly in main: the signal handling, the exit status and
// a process that must not crash-loop while its store is missing.

// publishPartner publishes ids on subject to the partner's stream and waits
// for the partner's broker to acknowledge every one, so the events are
// safely on the partner side before the test goes on.
func publishPartner(t *testing.T, js jetstream.JetStream, subject string, ids []string) {
	t.Helper()
	if err := tryPublishPartner(js, subject, ids); err != nil {
		t.Fatal(err)
	}
}

// tryPublishPartner is publishPartner for goroutines other than the test's.
func tryPublishPartner(js jetstream.JetStream, subject string, ids []string) error {
	for _, id := range ids {
		m := nats.NewMsg(subject)
		m.Header.Set(nats.MsgIdHdr, id)
		m.Data = []byte(`{"id":"` + id + `"}`)
		if _, err := js.PublishMsgAsync(m); err != nil {
			return fmt.Errorf("partner publish %s: %w", id, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("partner broker did not acknowledge %d publishes", js.PublishAsyncPending())
	}
}

func seqIDs(prefix string, from, to int) []string {
	ids := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		ids = append(ids, fmt.Sprintf("%s-%05d", prefix, i))
	}
	return ids
}

func partnerNATSBlock(name, url, subject, stream string) string {
	return fmt.Sprintf(`  - name: %s
    inbound:
      type: nats
      options:
        url: %s
        subject: %s
        stream: %s
        ack_wait: 5s`, name, url, subject, stream)
}

// exited reports whether the bridge process has ended.
func (p *bridgeProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// TestStartupJetStreamComesUpLater starts the bridge while its external
// JetStream is not running yet. The rule for a broker that is down
// at startup: retried with backoff and reported, not a crash loop. So the
// one process must stay up, say what it is waiting for, acknowledge nothing
// to the partner while it cannot store, and deliver everything, including
// events the partner sent before the store existed, once JetStream appears.
func TestStartupJetStreamComesUpLater(t *testing.T) {
	const total = 400
	partner := startNATS(t, "")
	_, pjs := partner.js(t)
	createStream(t, pjs, "PARTNER_LATE", "late.>")
	erp := natsERP(t)

	// The store is a real nats-server with JetStream on a loopback port
	// that nothing listens on yet. sync_interval always, because the
	// config below says durability fsync and that is what fsync requires.
	store := stoppedNATS(t)
	store.Opts.SyncAlways = true
	yaml := fmt.Sprintf(`environment: test
jetstream:
  url: nats://127.0.0.1:%d
  durability: fsync
  replicas: 1
  stream_prefix: LATE
forward:
  retry_delay: 200ms
admin:
  listen: 127.0.0.1:0
erp:
%s
partners:
%s
`, store.Opts.Port, indent(erp.yaml, "  "), partnerNATSBlock("late-co", partner.url(), "late.>", "PARTNER_LATE"))

	ids := seqIDs("late", 0, total)
	publishPartner(t, pjs, "late.order.created", ids[:total/2])
	br := startBridgeProc(t, yaml)

	// Wait for the bridge's own report that the store is unreachable and
	// being retried, rather than a fixed sleep: that line proves it started
	// before JetStream and is waiting, not that some time went by.
	eventually(t, 40*time.Second, "the bridge reporting that it retries JetStream", func() (bool, string) {
		if br.exited() {
			t.Fatalf("bridge exited while JetStream was down (a crash loop under a supervisor):\n%s", tail(readFile(t, br.log), 2000))
		}
		log := readFile(t, br.log)
		return strings.Contains(log, "retrying") && strings.Contains(log, "create JetStream streams"), tail(log, 500)
	})
	if br.exited() {
		t.Fatal("bridge exited while JetStream was down")
	}
	// Nothing can be stored yet, so nothing may be acknowledged to the
	// partner: its consumer either does not exist yet or has acked nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := pjs.Consumer(ctx, "PARTNER_LATE", "dmzbridge-late-co"); err == nil {
		if info, err := c.Info(ctx); err == nil && info.AckFloor.Stream > 0 {
			t.Fatalf("bridge acknowledged %d partner events while its store was down", info.AckFloor.Stream)
		}
	}

	store.start(t)
	publishPartner(t, pjs, "late.order.created", ids[total/2:])
	eventually(t, 45*time.Second, "every event at the ERP after JetStream came up", func() (bool, string) {
		if br.exited() {
			t.Fatalf("bridge exited:\n%s", tail(readFile(t, br.log), 2000))
		}
		n := erp.collect.distinct()
		return n >= total, fmt.Sprintf("%d of %d", n, total)
	})
	erp.collect.checkAllInOrder(t, ids)
	if br.exited() {
		t.Fatal("bridge exited after delivering; it came up once and must keep serving")
	}
}

// TestServeSIGTERMMidStreamLosesNothing sends SIGTERM to `dmzbridge serve`
// while events are still flowing from the partner, through the store, to
// the ERP. Graceful shutdown must finish on its own with exit status 0 (a
// supervisor treats anything else as a failure, and systemd's restart
// policy keys on it), and once the bridge is started again on the same
// store every event, including those the partner sent while it was down,
// reaches the ERP.
//
// Per-partner order is asserted too. It used to break in about one run in
// four: the stopping source held back and nak'd the events it had been
// handed, but the partner's server gives back first what it had pushed into
// the closing pull and the bridge never saw, so the nak'd, older events
// came back behind newer ones. The source now stores everything it was
// handed while it stops, so only the newest go back.
func TestServeSIGTERMMidStreamLosesNothing(t *testing.T) {
	const first, total = 1500, 3000
	partner := startNATS(t, "")
	_, pjs := partner.js(t)
	createStream(t, pjs, "PARTNER_TERM", "term.>")
	erp := natsERP(t)
	yaml := bridgeYAML(t.TempDir(), bridgetest.FreePort(t), erp.yaml, partnerNATSBlock("term-co", partner.url(), "term.>", "PARTNER_TERM"))

	ids := seqIDs("term", 0, total)
	publishPartner(t, pjs, "term.order.created", ids[:first])
	br := startBridgeProc(t, yaml)

	// Signal once the ERP has some of the first batch but far from all of
	// it: the bridge then has events in every stage (taken from the
	// partner, in the store, being forwarded), and the partner keeps
	// publishing the rest concurrently.
	eventually(t, 40*time.Second, "the first events at the ERP", func() (bool, string) {
		if br.exited() {
			t.Fatalf("bridge exited before SIGTERM:\n%s", tail(readFile(t, br.log), 2000))
		}
		n := erp.collect.distinct()
		return n >= 100, fmt.Sprintf("%d", n)
	})
	// The second half is sent only once the signal is out, so the bridge
	// stops with the stream unfinished by construction; the partner keeps
	// publishing while it drains.
	if err := br.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	atSignal := erp.collect.distinct()
	published := make(chan error, 1)
	go func() { published <- tryPublishPartner(pjs, "term.order.created", ids[first:]) }()
	if atSignal >= total {
		t.Fatalf("all %d events had arrived before SIGTERM: the test did not stop the bridge mid-stream", total)
	}
	select {
	case <-br.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("bridge still running 40 s after SIGTERM:\n%s", tail(readFile(t, br.log), 2000))
	}
	if st := br.cmd.ProcessState; !st.Success() {
		t.Fatalf("after SIGTERM the bridge ended with %v, want exit status 0:\n%s", st, tail(readFile(t, br.log), 2000))
	}
	t.Logf("SIGTERM with %d of %d events at the ERP; %d after the drain", atSignal, total, erp.collect.distinct())
	logPartnerConsumer(t, pjs, "PARTNER_TERM", "dmzbridge-term-co")
	if err := <-published; err != nil {
		t.Fatal(err)
	}

	startBridgeProc(t, yaml)
	eventually(t, 45*time.Second, "every event at the ERP after the restart", func() (bool, string) {
		n := erp.collect.distinct()
		return n >= total, fmt.Sprintf("%d of %d", n, total)
	})
	erp.collect.checkAllInOrder(t, ids)
}

// logPartnerConsumer logs what the partner's broker still counts as
// delivered but unacknowledged: after a graceful stop these are the events
// the bridge handed back (nak) or never saw (in flight to its closed pull).
func logPartnerConsumer(t *testing.T, js jetstream.JetStream, stream, consumer string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		t.Logf("partner consumer %s: %v", consumer, err)
		return
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Logf("partner consumer %s: %v", consumer, err)
		return
	}
	t.Logf("partner consumer after the drain: ack floor %d, delivered %d, %d awaiting ack, %d not yet delivered",
		info.AckFloor.Stream, info.Delivered.Stream, info.NumAckPending, info.NumPending)
}

// firstOrderViolation describes the first id whose first arrival came
// after that of an id the partner sent later, or returns "".
func (c *erpCollector) firstOrderViolation(want []string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	pos := make(map[string]int, len(want))
	for i, id := range want {
		pos[id] = i
	}
	seen := map[string]bool{}
	last := -1
	for _, id := range c.ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if p, ok := pos[id]; ok {
			if p < last {
				return fmt.Sprintf("%s (#%d) first arrived after #%d", id, p, last)
			}
			last = p
		}
	}
	return ""
}
