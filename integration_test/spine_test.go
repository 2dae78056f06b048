package integration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// erpCollector records ids in the order the ERP received them.
type erpCollector struct {
	mu  sync.Mutex
	ids []string
}

func (c *erpCollector) add(id string) {
	c.mu.Lock()
	c.ids = append(c.ids, id)
	c.mu.Unlock()
}

func (c *erpCollector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for _, id := range c.ids {
		seen[id] = true
	}
	return len(seen)
}

// checkAllInOrder asserts every expected id arrived and that first
// arrivals kept the partner's order; duplicates (same id) are allowed.
func (c *erpCollector) checkAllInOrder(t *testing.T, want []string) {
	t.Helper()
	if v := c.firstOrderViolation(want); v != "" {
		c.mu.Lock()
		t.Logf("first arrivals: %v", c.ids[:min(len(c.ids), 40)])
		c.mu.Unlock()
		t.Fatalf("order broken: %s", v)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	expected := make(map[string]bool, len(want))
	for _, id := range want {
		expected[id] = true
	}
	seen := map[string]bool{}
	for _, id := range c.ids {
		if !expected[id] {
			t.Fatalf("ERP received unexpected id %q", id)
		}
		seen[id] = true
	}
	for _, id := range want {
		if !seen[id] {
			t.Fatalf("id %s never reached the ERP (%d of %d arrived)", id, len(seen), len(want))
		}
	}
	t.Logf("%d distinct ids in order, %d deliveries (%d duplicates with the same id)", len(seen), len(c.ids), len(c.ids)-len(seen))
}

type erpSide struct {
	yaml    string
	collect *erpCollector
}

func natsERP(t *testing.T) erpSide {
	erp := startNATS(t, "")
	nc, js := erp.js(t)
	createStream(t, js, "ERP", "erp.>")
	c := &erpCollector{}
	sub, err := nc.Subscribe("erp.>", func(m *nats.Msg) { c.add(m.Header.Get(nats.MsgIdHdr)) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	// The ERP stream deduplicates by Nats-Msg-Id, so it must hold each id once.
	t.Cleanup(func() {
		info, err := js.Stream(context.Background(), "ERP")
		if err == nil {
			t.Logf("ERP stream holds %d messages", info.CachedInfo().State.Msgs)
		}
	})
	return erpSide{
		yaml:    fmt.Sprintf("type: nats\noptions:\n  url: %s\n  subject: erp.events.{partner}\n  jetstream: true\n", erp.url()),
		collect: c,
	}
}

func amqpERP(t *testing.T) erpSide {
	conn := requireRabbit(t)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	exchange, queue := "dmz-test-erp-"+suffix, "dmz-test-erp-q-"+suffix
	if err := ch.ExchangeDeclare(exchange, "topic", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, "#", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &erpCollector{}
	go func() {
		for d := range deliveries {
			c.add(d.MessageId)
		}
	}()
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(queue, false, false, false)
		_ = ch.ExchangeDelete(exchange, false, false)
	})
	return erpSide{
		yaml:    fmt.Sprintf("type: amqp\noptions:\n  url: %s\n  exchange: %s\n", rabbitURL, exchange),
		collect: c,
	}
}

// TestSpineTenThousandWithRestart sends 10,000 events on a partner's NATS
// JetStream subject, restarts the bridge in the middle, and checks that
// every id reaches the ERP in the partner's order.
func TestSpineTenThousandWithRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		erp  func(*testing.T) erpSide
	}{
		{"erp-nats", natsERP},
		{"erp-amqp", amqpERP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const total = 10000
			partner := startNATS(t, "")
			_, pjs := partner.js(t)
			createStream(t, pjs, "PARTNER_BANK", "bank.>")
			erp := tc.erp(t)

			storeDir := filepath.Join(t.TempDir(), "js")
			yaml := bridgeYAML(storeDir, bridgetest.FreePort(t), erp.yaml, fmt.Sprintf(`  - name: bank-a
    inbound:
      type: nats
      options:
        url: %s
        subject: bank.>
        stream: PARTNER_BANK`, partner.url()))

			rb := startBridge(t, yaml, app.Options{})
			want := make([]string, total)
			for i := range total {
				want[i] = fmt.Sprintf("bank-a-%05d", i)
				if i == total/2 {
					// Stop mid-stream: everything accepted so far must survive.
					rb.shutdown()
					rb = startBridge(t, yaml, app.Options{})
				}
				m := nats.NewMsg("bank.payment.received")
				m.Header.Set(nats.MsgIdHdr, want[i])
				m.Data = []byte(fmt.Sprintf(`{"seq":%d}`, i))
				if _, err := pjs.PublishMsgAsync(m, jetstream.WithStallWait(15*time.Second)); err != nil {
					t.Fatalf("partner publish %d: %v", i, err)
				}
			}
			select {
			case <-pjs.PublishAsyncComplete():
			case <-time.After(30 * time.Second):
				t.Fatal("partner publishes not acknowledged")
			}
			eventually(t, 60*time.Second, "all ids at the ERP", func() (bool, string) {
				n := erp.collect.distinct()
				return n == total, fmt.Sprintf("%d of %d", n, total)
			})
			erp.collect.checkAllInOrder(t, want)
		})
	}
}
