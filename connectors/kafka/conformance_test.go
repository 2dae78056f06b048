package kafka

import (
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/connectors/conformance"
	"github.com/dmzbridge/dmzbridge/connectors/kafka/kafkatest"
)

const conformanceWindow = 16

// kfakeHarness runs the conformance suite against an in-process broker, one
// per subtest, with a one-partition topic so publish order is the order
// the source must keep.
type kfakeHarness struct {
	cluster *kafkatest.Cluster
	pub     *kafkatest.Publisher
	topic   string
}

func testClusterOpts() []kfake.Opt {
	return []kfake.Opt{kfake.GroupMinSessionTimeout(500 * time.Millisecond)}
}

func newKfakeHarness(t *testing.T) conformance.Harness {
	h := &kfakeHarness{topic: "conformance"}
	h.cluster = kafkatest.Start(t, 1, []string{h.topic}, testClusterOpts()...)
	h.pub = kafkatest.NewPublisher(t, h.cluster.Brokers, h.topic, nil)
	return h
}

// fastGroup are options that make joins and rebalances quick in tests.
const fastGroup = `session_timeout: 3s
heartbeat_interval: 200ms
rebalance_timeout: 3s
restart_initial: 50ms
restart_max: 1s
commit_interval: 50ms
max_wait: 200ms
`

func (h *kfakeHarness) Source(t testing.TB) bridge.Source {
	return newTestSource(t, fmt.Sprintf(`brokers: [%s]
topic: %s
group_id: conformance
id_header: X-Message-Id
max_in_flight: %d
%s`, h.cluster.Brokers[0], h.topic, conformanceWindow, fastGroup))
}

func newTestSource(t testing.TB, doc string) *Source {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(node.Content[0], bridge.SourceSpec{Partner: "conformance", Logger: testLog()})
	if err != nil {
		t.Fatalf("options: %v\n%s", err, doc)
	}
	return src.(*Source)
}

func testLog() *slog.Logger {
	if os.Getenv("DMZ_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (h *kfakeHarness) Publish(t testing.TB, msgs []conformance.Message) {
	recs := make([]kafkatest.Record, len(msgs))
	for i, m := range msgs {
		hd := map[string]string{"X-Message-Id": m.ID}
		for k, v := range m.Headers {
			hd[k] = v
		}
		recs[i] = kafkatest.Record{Partition: 0, Value: m.Body, Headers: hd}
	}
	h.pub.Publish(t, recs)
}

func (h *kfakeHarness) Disconnect(t testing.TB) {
	if n := h.cluster.DropConnections(time.Second); n == 0 {
		t.Fatal("no client request arrived while connections were being dropped")
	}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Features{
		Ordered:           true,
		RedeliversOnNack:  true,
		ResumesAfterClose: true,
		Reconnects:        true,
		Window:            conformanceWindow,
	}, newKfakeHarness)
}
