package integration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// TestDuplicateDroppedAfterRestart: a byte-identical copy of an event,
// sent after the original was forwarded and the bridge restarted on the
// same JetStream store, inside duplicate_window, is dropped. Forwarded
// events stay stored for the window, so JetStream rebuilds their ids on
// restart; the restarted forwarder resumes after what was confirmed, so
// they are not forwarded again either.
func TestDuplicateDroppedAfterRestart(t *testing.T) {
	partner := startDLQPartner(t, "DEDUP_IN", "dedup.>")
	erp := natsERP(t)
	cfg := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.yaml,
		fmt.Sprintf(`  - name: bank-a
    inbound:
      type: nats
      options: {url: %s, subject: "dedup.>", stream: DEDUP_IN, durable: in-bank-a, id_header: X-Event-Id}
`, partner.srv.url()))
	// The partner's id travels in X-Event-Id, not Nats-Msg-Id, so the
	// partner's own stream stores the copy and the bridge must judge it.
	send := func(id, body string) {
		t.Helper()
		m := nats.NewMsg("dedup.payment")
		m.Header.Set("X-Event-Id", id)
		m.Data = []byte(body)
		if _, err := partner.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatalf("partner publish %s: %v", id, err)
		}
	}
	original := `{"invoice":"INV-1","amount":"100.00"}`

	rb := startBridge(t, cfg, app.Options{})
	ids := []string{"inv-1"}
	send("inv-1", original)
	for i := range 10 {
		id := fmt.Sprintf("other-%02d", i)
		ids = append(ids, id)
		send(id, fmt.Sprintf(`{"n":%d}`, i))
	}
	eventually(t, 30*time.Second, "every event forwarded before the restart", func() (bool, string) {
		n := erp.collect.distinct()
		return n == len(ids), fmt.Sprintf("%d of %d", n, len(ids))
	})
	// Every event confirmed: before this change the compactor purged them
	// all, at the latest in its final purge at shutdown.
	js, topo := rb.b.JetStream(), rb.b.Topology()
	eventually(t, 10*time.Second, "every event acknowledged", func() (bool, string) {
		cons, err := js.Consumer(context.Background(), topo.IngestStream(), topo.ForwarderConsumer("bank-a"))
		if err != nil {
			return false, err.Error()
		}
		info, err := cons.Info(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return info.NumPending == 0 && info.NumAckPending == 0, fmt.Sprintf("pending %d ack pending %d", info.NumPending, info.NumAckPending)
	})
	rb.shutdown()

	rb = startBridge(t, cfg, app.Options{})
	if n := streamMsgs(t, rb.b.JetStream(), topo.IngestStream()); n != uint64(len(ids)) {
		t.Errorf("after the restart the ingest stream holds %d forwarded events, want %d kept for the duplicate window", n, len(ids))
	}
	send("inv-1", original)
	// A later event of the same partner: the forwarder keeps a partner's
	// order, so once it reaches the ERP a forwarded copy would have too.
	send("after-restart", `{"n":"last"}`)
	ids = append(ids, "after-restart")
	eventually(t, 30*time.Second, "the event sent after the copy reaches the ERP", func() (bool, string) {
		return erp.collect.countsByID()["after-restart"] == 1, fmt.Sprintf("%v", erp.collect.countsByID())
	})
	erp.collect.exactlyOnce(t, ids)
}
