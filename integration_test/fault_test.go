package integration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// TestFaultSIGKILLFiveTimes runs 50,000 events through a bridge process
// that is killed with SIGKILL five times while they flow. Every id must
// reach the ERP at least once; redelivered copies carry the same id.
func TestFaultSIGKILLFiveTimes(t *testing.T) {
	const total = 50000
	partner := startNATS(t, "")
	_, pjs := partner.js(t)
	createStream(t, pjs, "PARTNER_KILL", "kill.>")
	erp := natsERP(t)

	storeDir := filepath.Join(t.TempDir(), "js")
	yaml := bridgeYAML(storeDir, bridgetest.FreePort(t), erp.yaml, fmt.Sprintf(`  - name: bank-k
    inbound:
      type: nats
      options:
        url: %s
        subject: kill.>
        stream: PARTNER_KILL
        max_in_flight: 4096`, partner.url()))

	// The partner publishes in six parts and each kill comes before the
	// next part is sent, once the ERP has some of the current one: the
	// bridge is killed with work in hand by construction, not by timing.
	const parts = 6
	ids := make([]string, total)
	publish := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			ids[i] = fmt.Sprintf("kill-%05d", i)
			m := nats.NewMsg("kill.order.created")
			m.Header.Set(nats.MsgIdHdr, ids[i])
			m.Data = []byte(fmt.Sprintf(`{"seq":%d,"pad":"%0900d"}`, i, i))
			if _, err := pjs.PublishMsgAsync(m, jetstream.WithStallWait(10*time.Second)); err != nil {
				t.Fatalf("partner publish %d: %v", i, err)
			}
		}
		select {
		case <-pjs.PublishAsyncComplete():
		case <-time.After(60 * time.Second):
			t.Fatal("partner publishes not acknowledged")
		}
	}

	br := startBridgeProc(t, yaml)
	part := total / parts
	for kill := 1; kill <= parts-1; kill++ {
		publish((kill-1)*part, kill*part)
		// Kill while the bridge is busy with this part: some of it at the
		// ERP, and the rest of the stream not even sent yet.
		floor := (kill-1)*part + part/10
		eventually(t, 60*time.Second, fmt.Sprintf("kill %d: events of part %d at the ERP", kill, kill), func() (bool, string) {
			n := erp.collect.distinct()
			return n >= floor, fmt.Sprintf("%d, want %d", n, floor)
		})
		br.kill()
		t.Logf("kill %d: %d distinct ids at the ERP so far, %d of %d sent", kill, erp.collect.distinct(), kill*part, total)
		br = startBridgeProc(t, yaml)
	}
	publish((parts-1)*part, total)
	eventually(t, 90*time.Second, "every id at the ERP", func() (bool, string) {
		n := erp.collect.distinct()
		return n == total, fmt.Sprintf("%d of %d", n, total)
	})
	erp.collect.checkAll(t, ids)
	if n := erp.collect.distinct(); n != total {
		t.Fatalf("%d distinct ids at the ERP, want exactly %d (an id the partner never sent?)", n, total)
	}
}

// TestFaultStoreFullPausesIntake fills the ingest stream to its byte limit
// with the ERP down: intake stops, the partner's consumer keeps the rest
// unacknowledged, and once the ERP is back every event arrives.
func TestFaultStoreFullPausesIntake(t *testing.T) {
	const total = 3000
	partner := startNATS(t, "")
	_, pjs := partner.js(t)
	createStream(t, pjs, "PARTNER_FULL", "full.>")
	erp := stoppedNATS(t)
	erpYAML := fmt.Sprintf("type: nats\noptions:\n  url: nats://127.0.0.1:%d\n  subject: erp.events.{partner}\n  jetstream: true\n", erp.Opts.Port)
	storeDir := filepath.Join(t.TempDir(), "js")
	y := bridgeYAML(storeDir, bridgetest.FreePort(t), erpYAML, fmt.Sprintf(`  - name: bank-f
    inbound:
      type: nats
      options:
        url: %s
        subject: full.>
        stream: PARTNER_FULL`, partner.url()))
	// About 1,000 events of ~1 KB fit.
	y = replaceOnce(y, "  embedded: true\n", "  embedded: true\n  ingest: {max_bytes: 1200000}\n")
	// The events stored while the ERP is down back off; with the default
	// cap of five minutes the oldest one could hold the ack floor, and with
	// it the store's space, longer than this test waits once the ERP is
	// back. What is tested here is the pause and that nothing is lost, not
	// the backoff schedule.
	y = replaceOnce(y, "  retry_delay: 200ms\n", "  retry_delay: 200ms\n  retry: {max_delay: 2s}\n")
	br := startBridgeProc(t, y)

	ids := make([]string, total)
	for i := range total {
		ids[i] = fmt.Sprintf("full-%05d", i)
		m := nats.NewMsg("full.order.created")
		m.Header.Set(nats.MsgIdHdr, ids[i])
		m.Data = []byte(fmt.Sprintf(`{"seq":%d,"pad":"%0900d"}`, i, i))
		if _, err := pjs.PublishMsgAsync(m); err != nil {
			t.Fatal(err)
		}
	}
	<-pjs.PublishAsyncComplete()

	// Intake pauses: the ack floor stops well short of the total and stays.
	var floor uint64
	eventually(t, 30*time.Second, "intake to stall at the store limit", func() (bool, string) {
		ok, state := partnerAcked(pjs, "PARTNER_FULL", "dmzbridge-bank-f", 100)
		if !ok {
			return false, state
		}
		f := ackFloor(t, pjs, "PARTNER_FULL", "dmzbridge-bank-f")
		stable := f == floor
		floor = f
		time.Sleep(time.Second)
		return stable && f < total, fmt.Sprintf("ack floor %d", f)
	})
	if floor >= total {
		t.Fatalf("all %d acknowledged although the store holds about 1,000", total)
	}
	// Nothing acknowledged to the partner that is not stored: every
	// acknowledged id must still reach the ERP (checked below), and the
	// bridge reports the condition in its log.
	t.Logf("intake paused at ack floor %d of %d", floor, total)
	if log := readFile(t, br.log); !containsAny(log, "JetStream did not store message", "batch not committed") {
		t.Fatalf("bridge did not report the store refusing writes; log tail:\n%s", tail(log, 2000))
	}

	erp.start(t)
	nc, ejs := erp.js(t)
	createStream(t, ejs, "ERP", "erp.>")
	c := &erpCollector{}
	sub, err := nc.Subscribe("erp.>", func(m *nats.Msg) { c.add(m.Header.Get(nats.MsgIdHdr)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	eventually(t, 90*time.Second, "every event at the ERP after the store drained", func() (bool, string) {
		n := c.distinct()
		return n >= total, fmt.Sprintf("%d of %d", n, total)
	})
	c.checkAll(t, ids)
}

func ackFloor(t *testing.T, js jetstream.JetStream, stream, consumer string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.AckFloor.Stream
}

// TestFaultBrokersRestartMidRun restarts the partner's NATS server and
// then takes the ERP's NATS server down and back while 20,000 events flow:
// the bridge reconnects to both by itself and every id reaches the ERP.
func TestFaultBrokersRestartMidRun(t *testing.T) {
	const total = 20000
	partner := startNATS(t, t.TempDir())
	_, pjs := partner.js(t)
	createStream(t, pjs, "PARTNER_RST", "rst.>")
	erp := startNATS(t, t.TempDir())
	enc, ejs := erp.js(t)
	createStream(t, ejs, "ERP", "erp.>")
	_ = enc
	// Read what the ERP stream holds with an ordered consumer, which picks
	// up where it was after the ERP server restarts (a core subscription
	// could miss what arrives while it reconnects).
	c := &erpCollector{}
	oc, err := ejs.OrderedConsumer(context.Background(), "ERP", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := oc.Consume(func(m jetstream.Msg) { c.add(m.Headers().Get(nats.MsgIdHdr)) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	erpYAML := fmt.Sprintf("type: nats\noptions:\n  url: %s\n  subject: erp.events.{partner}\n  jetstream: true\n", erp.url())

	ids := make([]string, total)
	for i := range total {
		ids[i] = fmt.Sprintf("rst-%05d", i)
		m := nats.NewMsg("rst.order.created")
		m.Header.Set(nats.MsgIdHdr, ids[i])
		m.Data = []byte(fmt.Sprintf(`{"seq":%d,"pad":"%0900d"}`, i, i))
		// A busy machine acknowledges slowly: wait for room rather than
		// fail on the client's cap of outstanding publishes.
		if _, err := pjs.PublishMsgAsync(m, jetstream.WithStallWait(10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-pjs.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("partner publishes not acknowledged")
	}

	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erpYAML, fmt.Sprintf(`  - name: bank-r
    inbound:
      type: nats
      options:
        url: %s
        subject: rst.>
        stream: PARTNER_RST`, partner.url()))
	// Each server goes down while the intake gate holds the rest of the
	// flow back, so both faults land mid-stream by construction.
	gate := newIntakeGate(total / 10)
	startBridge(t, yaml, gate.options())

	gate.waitHolding(t)
	partner.stop()
	time.Sleep(2 * time.Second)
	partner.start(t)
	t.Logf("partner server restarted; %d at the ERP", c.distinct())
	gate.admit(total / 5)

	gate.waitHolding(t)
	erp.stop()
	time.Sleep(2 * time.Second)
	erp.start(t)
	if n := c.distinct(); n >= total {
		t.Fatalf("all %d ids at the ERP with the intake gate closed", n)
	}
	t.Logf("ERP server down 2s and back; %d at the ERP", c.distinct())
	gate.admit(-1)

	eventually(t, 90*time.Second, "every id at the ERP", func() (bool, string) {
		n := c.distinct()
		return n == total, fmt.Sprintf("%d of %d", n, total)
	})
	c.checkAll(t, ids)
}
