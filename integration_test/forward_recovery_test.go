package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	natsconn "github.com/dmzbridge/dmzbridge/connectors/nats"
)

// holdSink is the real NATS ERP sink behind a gate: the first Publish
// reports that it has the forwarder's batch in hand and waits until the
// test releases it.
type holdSink struct {
	flakySink
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (s *holdSink) Publish(ctx context.Context, batch []*bridge.ERPMessage) []error {
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
	return s.flakySink.Publish(ctx, batch)
}

// TestForwarderRecoversFromDeletedConsumer: a partner's forwarding
// consumer is deleted under load and replaced by one the forwarder cannot
// use. While that lasts /readyz, /status and dmzbridge_connector_up say
// the partner's forwarder is down and events keep being taken in; once the
// bad consumer is gone the forwarder recreates its own and every event
// reaches the ERP exactly once (the bridge is the consumer's only user,
// and the recreated consumer resumes after what was confirmed).
func TestForwarderRecoversFromDeletedConsumer(t *testing.T) {
	partner := startDLQPartner(t, "FWDREC_IN", "fwdrec.>")
	erp := natsERP(t)
	sink := &holdSink{flakySink: *newFlakySink(), entered: make(chan struct{}), release: make(chan struct{})}
	reg := app.Registry()
	reg.RegisterSink("hold-nats", func(node *yaml.Node, spec bridge.SinkSpec) (bridge.Sink, error) {
		inner, err := natsconn.NewSink(node, spec)
		if err != nil {
			return nil, err
		}
		sink.inner = inner
		return sink, nil
	})
	cfg := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), strings.Replace(erp.yaml, "type: nats", "type: hold-nats", 1),
		partner.block("bank-a", "fwdrec.>", "FWDREC_IN", ""))
	rb := startBridge(t, cfg, app.Options{Registry: reg})
	base := rb.b.AdminURL()

	// Load before the fault; the forwarder takes its first batch to the
	// ERP and is held there, so nothing recreates the consumer before the
	// test has replaced it.
	first := partner.publish(t, "fwdrec.payment", "before", 300, nil, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) })
	select {
	case <-sink.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the forwarder never handed a batch to the ERP sink")
	}

	nc, err := nats.Connect(rb.b.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	topo := rb.b.Topology()
	durable := topo.ForwarderConsumer("bank-a")
	if err := js.DeleteConsumer(ctx, topo.IngestStream(), durable); err != nil {
		t.Fatalf("delete the forwarder consumer: %v", err)
	}
	// A push consumer under the same name: the forwarder cannot consume
	// from it, so it stays down until the test removes it.
	if _, err := js.CreateOrUpdatePushConsumer(ctx, topo.IngestStream(), jetstream.ConsumerConfig{
		Durable: durable, DeliverSubject: "nobody.listens", FilterSubject: topo.IngestSubject("nobody"), AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatalf("create the blocking consumer: %v", err)
	}
	close(sink.release)

	eventually(t, 30*time.Second, "/readyz reports the forwarder down", func() (bool, string) {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "forwarder bank-a down"), fmt.Sprintf("%d %s", code, body)
	})
	// Intake goes on while the forwarder is down.
	second := partner.publish(t, "fwdrec.payment", "during", 300, nil, func(i int) string { return fmt.Sprintf(`{"m":%d}`, i) })
	eventually(t, 30*time.Second, "status and metrics report the forwarder down", func() (bool, string) {
		_, status := httpGet(t, base+"/status")
		_, metrics := httpGet(t, base+"/metrics")
		up := metricSum(metrics, "dmzbridge_connector_up", map[string]string{"role": "forwarder", "partner": "bank-a"})
		return strings.Contains(status, `"forwarder": "down"`) && strings.Contains(metrics, `role="forwarder"`) && up == 0,
			fmt.Sprintf("forwarder up=%v\n%s", up, status)
	})

	if err := js.DeleteConsumer(ctx, topo.IngestStream(), durable); err != nil {
		t.Fatalf("delete the blocking consumer: %v", err)
	}
	all := append(first, second...)
	eventually(t, 60*time.Second, "every event reaches the ERP after recovery", func() (bool, string) {
		n := erp.collect.distinct()
		return n == len(all), fmt.Sprintf("%d of %d", n, len(all))
	})
	eventually(t, 30*time.Second, "/readyz ready again", func() (bool, string) {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
	// Anything forwarded twice would have arrived by now: the consumer has
	// nothing pending.
	eventually(t, 10*time.Second, "nothing pending on the recreated consumer", func() (bool, string) {
		cons, err := js.Consumer(ctx, topo.IngestStream(), durable)
		if err != nil {
			return false, err.Error()
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		return info.NumPending == 0 && info.NumAckPending == 0, fmt.Sprintf("pending %d ack pending %d", info.NumPending, info.NumAckPending)
	})
	erp.collect.exactlyOnce(t, all)
}
