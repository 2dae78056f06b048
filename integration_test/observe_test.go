package integration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// partnerNATS starts a partner's NATS server with a JetStream stream and
// returns the partner block of the bridge config.
func partnerNATS(t *testing.T, name, stream, subject string) (string, func(id string, hdr map[string]string, body string)) {
	t.Helper()
	p := startNATS(t, "")
	_, pjs := p.js(t)
	createStream(t, pjs, stream, subject)
	block := fmt.Sprintf(`  - name: %s
    inbound:
      type: nats
      options:
        url: %s
        subject: %s
        stream: %s`, name, p.url(), subject, stream)
	send := func(id string, hdr map[string]string, body string) {
		t.Helper()
		m := nats.NewMsg(subject[:len(subject)-1] + "event")
		m.Header.Set(nats.MsgIdHdr, id)
		for k, v := range hdr {
			m.Header.Set(k, v)
		}
		m.Data = []byte(body)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := pjs.PublishMsg(ctx, m); err != nil {
			t.Fatalf("partner %s publish %s: %v", name, id, err)
		}
	}
	return block, send
}

// TestAuditTrailRecordsEveryDecision sends events through the bridge and
// reads the audit stream back: one received and one forwarded record per
// event, with the payload's digest and the partner from the connector.
func TestAuditTrailRecordsEveryDecision(t *testing.T) {
	block, send := partnerNATS(t, "bank-a", "AUD_BANK", "aud.bank.>")
	erp := natsERP(t)
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.yaml, block)
	rb := startBridge(t, yaml, app.Options{})
	const n = 20
	for i := range n {
		send(fmt.Sprintf("aud-%02d", i), nil, fmt.Sprintf(`{"seq":%d}`, i))
	}
	eventually(t, 30*time.Second, "events at the ERP", func() (bool, string) {
		return erp.collect.distinct() == n, fmt.Sprintf("%d of %d", erp.collect.distinct(), n)
	})
	js, topo := rb.b.JetStream(), rb.b.Topology()
	eventually(t, 30*time.Second, "forwarded records", func() (bool, string) {
		recs, err := audit.Query(context.Background(), js, topo, audit.Filter{Partner: "bank-a", Action: audit.ActionForwarded})
		return err == nil && len(recs) == n, fmt.Sprintf("%d records, err %v", len(recs), err)
	})
	recs, err := audit.Query(context.Background(), js, topo, audit.Filter{MessageID: "aud-07"})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]audit.Record{}
	for _, r := range recs {
		actions[r.Action] = r
	}
	rec, ok := actions[audit.ActionReceived]
	if !ok || len(recs) != 2 {
		t.Fatalf("records for aud-07: %+v", recs)
	}
	if rec.Partner != "bank-a" || rec.Connector != "nats" || rec.PayloadSHA256 != bridge.PayloadDigest([]byte(`{"seq":7}`)) || rec.Outcome != audit.OutcomeAccepted {
		t.Fatalf("received record: %+v", rec)
	}
}
