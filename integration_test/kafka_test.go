package integration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	kafkaconn "github.com/dmzbridge/dmzbridge/connectors/kafka"
	"github.com/dmzbridge/dmzbridge/connectors/kafka/kafkatest"
)

// The Kafka tests use kfake, franz-go's in-process Kafka wire-protocol
// broker: the bridge talks to it over TCP with kafka-go as it would to a
// real cluster. There is no external broker to miss, so they never skip.

const kafkaPartitions = 3

// kafkaERP is an ERP on its own NATS server: a stream that deduplicates by
// Nats-Msg-Id and a subscriber that records every delivery in order.
type kafkaERP struct {
	url string
	js  jetstream.JetStream
	mu  sync.Mutex
	got []erpDelivery
}

type erpDelivery struct {
	subject, id, traceparent string
}

func startKafkaERP(t *testing.T) *kafkaERP {
	erp := startNATS(t, "")
	nc, js := erp.js(t)
	createStream(t, js, "ERP", "erp.>")
	e := &kafkaERP{url: erp.url(), js: js}
	sub, err := nc.Subscribe("erp.>", func(m *nats.Msg) {
		e.mu.Lock()
		e.got = append(e.got, erpDelivery{m.Subject, m.Header.Get(nats.MsgIdHdr), m.Header.Get("traceparent")})
		e.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return e
}

// sinkYAML publishes to erp.<instance>.<partner> so a test can tell which
// bridge instance delivered an event.
func (e *kafkaERP) sinkYAML(instance string) string {
	return fmt.Sprintf("type: nats\noptions:\n  url: %s\n  subject: erp.%s.{partner}\n  jetstream: true\n", e.url, instance)
}

// snapshot returns distinct ids, deliveries per instance and all deliveries.
func (e *kafkaERP) snapshot() (distinct int, byInstance map[string]int, all int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]bool{}
	byInstance = map[string]int{}
	for _, d := range e.got {
		seen[d.id] = true
		byInstance[strings.Split(d.subject, ".")[1]]++
	}
	return len(seen), byInstance, len(e.got)
}

func (e *kafkaERP) deliveries() []erpDelivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]erpDelivery(nil), e.got...)
}

// storedMsgs is how many messages the ERP stream holds after deduplication.
func (e *kafkaERP) storedMsgs(t *testing.T) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, "ERP")
	if err != nil {
		t.Fatalf("ERP stream: %v", err)
	}
	return s.CachedInfo().State.Msgs
}

// checkPartitionOrder asserts that every id in want reached the ERP and
// that, per partition, first arrivals kept the partition's order.
// Duplicates are allowed; they must carry an id that was sent.
func checkPartitionOrder(t *testing.T, got []erpDelivery, want [][]string) {
	t.Helper()
	if late := checkDelivered(t, got, want); late > 0 {
		t.Fatalf("%d ids arrived after a later id of their partition", late)
	}
}

// checkDelivered asserts every id in want reached the ERP and nothing
// else did, and counts first arrivals that came after a later id of their
// partition.
func checkDelivered(t *testing.T, got []erpDelivery, want [][]string) (late int) {
	t.Helper()
	type pos struct{ part, idx int }
	where := map[string]pos{}
	for p, ids := range want {
		for i, id := range ids {
			where[id] = pos{p, i}
		}
	}
	last := make([]int, len(want))
	for i := range last {
		last[i] = -1
	}
	seen := map[string]bool{}
	for _, d := range got {
		w, ok := where[d.id]
		if !ok {
			t.Fatalf("ERP received id %q that was never sent", d.id)
		}
		if seen[d.id] {
			continue
		}
		seen[d.id] = true
		if w.idx < last[w.part] {
			if late == 0 {
				t.Logf("partition %d: %s (#%d) arrived after #%d", w.part, d.id, w.idx, last[w.part])
			}
			late++
			continue
		}
		last[w.part] = w.idx
	}
	for _, ids := range want {
		for _, id := range ids {
			if !seen[id] {
				t.Fatalf("id %s never reached the ERP (%d distinct arrived)", id, len(seen))
			}
		}
	}
	t.Logf("%d distinct ids, %d deliveries (%d duplicates with the same id), %d first arrivals after a later id of their partition",
		len(seen), len(got), len(got)-len(seen), late)
	return late
}

// kafkaPartnerYAML is a partner block consuming topic on brokers.
func kafkaPartnerYAML(name string, brokers []string, topic, extra string) string {
	return fmt.Sprintf(`  - name: %s
    inbound:
      type: kafka
      options:
        brokers: [%s]
        topic: %s
        group_id: dmzbridge-%s
        session_timeout: 3s
        heartbeat_interval: 200ms
        rebalance_timeout: 3s
        commit_interval: 100ms
        max_wait: 200ms
        restart_initial: 100ms
        restart_max: 1s
%s`, name, strings.Join(brokers, ","), topic, name, indent(extra, "        "))
}

// publishSpread publishes n records round-robin over the partitions, in
// batches with a pause between them so faults hit a flow in motion. It
// returns the ids the source derives (topic/partition/offset) per
// partition, in offset order.
func publishSpread(t *testing.T, pub *kafkatest.Publisher, topic string, n, batch int, pause time.Duration, onBatch func(sent int)) [][]string {
	want := make([][]string, kafkaPartitions)
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		recs := make([]kafkatest.Record, 0, end-start)
		for i := start; i < end; i++ {
			p := i % kafkaPartitions
			recs = append(recs, kafkatest.Record{
				Partition: p,
				Key:       fmt.Sprintf("order-%d", i),
				Value:     []byte(fmt.Sprintf(`{"seq":%d}`, i)),
				Headers:   map[string]string{"traceparent": fmt.Sprintf("00-%032x-%016x-01", i+1, i+1)},
			})
			want[p] = append(want[p], kafkaconn.RecordID(topic, p, int64(len(want[p]))))
		}
		pub.Publish(t, recs)
		if onBatch != nil {
			onBatch(end)
		}
		time.Sleep(pause)
	}
	return want
}

func startKfake(t *testing.T, topic string) *kafkatest.Cluster {
	return kafkatest.Start(t, kafkaPartitions, []string{topic}, kfake.GroupMinSessionTimeout(500*time.Millisecond))
}

// TestKafkaTenThousandInPartitionOrder: 10,000 records over 3 partitions
// all reach the ERP, each partition in offset order, with their trace
// parents, and every offset is committed once they are stored.
func TestKafkaTenThousandInPartitionOrder(t *testing.T) {
	const total, topic = 10000, "logistics.shipments"
	kc := startKfake(t, topic)
	erp := startKafkaERP(t)
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.sinkYAML("a"),
		kafkaPartnerYAML("logistics", kc.Brokers, topic, ""))
	rb := startBridge(t, yaml, app.Options{})

	start := time.Now()
	want := publishSpread(t, kafkatest.NewPublisher(t, kc.Brokers, topic, nil), topic, total, 2500, 0, nil)
	eventually(t, 60*time.Second, "all records at the ERP", func() (bool, string) {
		n, _, all := erp.snapshot()
		return n == total, fmt.Sprintf("%d of %d distinct, %d deliveries", n, total, all)
	})
	t.Logf("10,000 records through the bridge in %v", time.Since(start).Round(time.Millisecond))
	got := erp.deliveries()
	checkPartitionOrder(t, got, want)
	for _, d := range got {
		var p, off int
		if _, err := fmt.Sscanf(strings.TrimPrefix(d.id, topic+"/"), "%d/%d", &p, &off); err != nil {
			t.Fatalf("id %q: %v", d.id, err)
		}
		seq := off*kafkaPartitions + p
		// The ERP sees the partner's trace id; the parent span is the bridge's.
		if wantTrace := fmt.Sprintf("%032x", seq+1); audit.TraceID(d.traceparent) != wantTrace {
			t.Fatalf("%s: traceparent %q at the ERP, want trace id %s", d.id, d.traceparent, wantTrace)
		}
	}
	if n := erp.storedMsgs(t); n != total {
		t.Fatalf("ERP stream holds %d messages, want %d", n, total)
	}
	// Stopping drains and commits: a fresh group member on the same group
	// finds nothing left to fetch.
	rb.shutdown()
	lag := groupLag(t, kc, "dmzbridge-logistics", topic)
	if lag != 0 {
		t.Fatalf("consumer group lag after a clean stop is %d, want 0", lag)
	}
}

// groupLag sums, over the topic's partitions, end offset minus committed
// offset of group.
func groupLag(t *testing.T, kc *kafkatest.Cluster, group, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lag, err := kafkatest.GroupLag(ctx, kc.Brokers, group, topic)
	if err != nil {
		t.Fatalf("group lag: %v", err)
	}
	return lag
}

// TestKafkaBridgeKilledMidStream: the bridge runs in its own process and
// is killed with SIGKILL mid-stream, then started again on the same
// JetStream store. Nothing is lost; what comes twice carries the same id
// and the ERP's stream keeps one copy.
func TestKafkaBridgeKilledMidStream(t *testing.T) {
	const total, topic = 10000, "dealer.orders"
	kc := startKfake(t, topic)
	erp := startKafkaERP(t)
	jsPort := bridgetest.FreePort(t)
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), jsPort, erp.sinkYAML("a"),
		kafkaPartnerYAML("dealer", kc.Brokers, topic, ""))
	// What the killed bridge's forwarder held unconfirmed comes again after
	// ack_wait; keep that short so the test stays short.
	yaml = strings.Replace(yaml, "forward:\n", "forward:\n  ack_wait: 3s\n", 1)
	child := startChildBridge(t, yaml)
	// Watch what the bridge publishes into its ingest stream, in the order
	// its JetStream receives it, across the kill. This is a core NATS
	// subscription on the ingest subjects, not a read of the stream, so
	// it sees every publish as it happens and is unaffected by the
	// bridge purging confirmed events from the stream.
	ingest := watchSubject(t, fmt.Sprintf("nats://127.0.0.1:%d", jsPort), "dmz.ingest.>")

	pub := kafkatest.NewPublisher(t, kc.Brokers, topic, nil)
	killed := false
	want := publishSpread(t, pub, topic, total, 500, 40*time.Millisecond, func(sent int) {
		if killed || sent < total/2 {
			return
		}
		killed = true
		n, _, _ := erp.snapshot()
		if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("SIGKILL bridge: %v", err)
		}
		_ = child.cmd.Wait()
		t.Logf("SIGKILLed the bridge with %d records published and %d at the ERP", sent, n)
		child = startChildBridge(t, yaml)
	})
	if !killed {
		t.Fatal("the bridge was never killed")
	}
	eventually(t, 60*time.Second, "all records at the ERP", func() (bool, string) {
		n, _, all := erp.snapshot()
		return n == total, fmt.Sprintf("%d of %d distinct, %d deliveries", n, total, all)
	})
	// Order at the ERP is not asserted here: events the killed forwarder
	// had taken but not confirmed are redelivered by JetStream after
	// ack_wait, behind newer ones (a property of the forwarder, not of the
	// Kafka source). Every id must be there.
	checkDelivered(t, erp.deliveries(), want)
	if n := erp.storedMsgs(t); n != total {
		t.Fatalf("ERP stream holds %d messages after deduplication, want %d", n, total)
	}
	// Into JetStream, each partition's order holds across the kill: the
	// first publish of every id comes after those of its predecessors.
	// (The watcher may miss publishes while it reconnects; it never
	// invents an order.)
	seen := ingest.deliveries()
	late, compared, unknown := countLate(seen, want)
	// An id the test never sent means the watcher's ids and want are not
	// spelled alike (as when the partner-scoped Nats-Msg-Id was compared
	// with source ids): then nothing would be compared and nothing could
	// be late.
	if unknown > 0 {
		t.Fatalf("%d publishes into the ingest stream carry an id that was never sent", unknown)
	}
	if late > 0 {
		t.Fatalf("%d ids published into the ingest stream after a later id of their partition", late)
	}
	// The check proves something only if it compared most of the ids.
	if compared < total*9/10 {
		t.Fatalf("the order check compared only %d of %d ids (%d publishes watched); it proves little", compared, total, len(seen))
	}
	t.Logf("ingest stream received %d publishes; %d distinct ids compared, all in per-partition order", len(seen), compared)
}

// TestKafkaTwoInstancesShareGroup: two bridges in the same consumer group
// split the partitions and together deliver every record; when one stops
// mid-stream the other takes its partitions over.
func TestKafkaTwoInstancesShareGroup(t *testing.T) {
	const total, topic = 6000, "bank.payments"
	kc := startKfake(t, topic)
	erp := startKafkaERP(t)
	partner := func() string { return kafkaPartnerYAML("bank", kc.Brokers, topic, "id_header: X-Message-Id\n") }
	a := startBridge(t, bridgeYAML(filepath.Join(t.TempDir(), "a"), bridgetest.FreePort(t), erp.sinkYAML("a"), partner()), app.Options{})
	b := startBridge(t, bridgeYAML(filepath.Join(t.TempDir(), "b"), bridgetest.FreePort(t), erp.sinkYAML("b"), partner()), app.Options{})
	defer a.shutdown()

	// Both members hold partitions before anything is published, so each
	// instance's share is its own and not a re-fetch of the other's.
	eventually(t, 30*time.Second, "both instances assigned partitions", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		state, members, err := kafkatest.GroupAssignments(ctx, kc.Brokers, "dmzbridge-bank")
		if err != nil {
			return false, err.Error()
		}
		busy := 0
		for _, n := range members {
			if n > 0 {
				busy++
			}
		}
		return state == "Stable" && busy == 2, fmt.Sprintf("%s %v", state, members)
	})

	pub := kafkatest.NewPublisher(t, kc.Brokers, topic, nil)
	ids := make([]string, 0, total)
	send := func(from, to int) {
		recs := make([]kafkatest.Record, 0, to-from)
		for i := from; i < to; i++ {
			id := fmt.Sprintf("pay-%05d", i)
			ids = append(ids, id)
			recs = append(recs, kafkatest.Record{Partition: i % kafkaPartitions, Value: []byte(fmt.Sprintf(`{"seq":%d}`, i)),
				Headers: map[string]string{"X-Message-Id": id}})
		}
		pub.Publish(t, recs)
	}
	send(0, total/2)
	eventually(t, 60*time.Second, "the first half at the ERP", func() (bool, string) {
		n, by, _ := erp.snapshot()
		return n == total/2, fmt.Sprintf("%d of %d distinct, by instance %v", n, total/2, by)
	})
	onlyA, onlyB := 0, 0
	byID := map[string]string{}
	for _, d := range erp.deliveries() {
		inst := strings.Split(d.subject, ".")[1]
		if prev, ok := byID[d.id]; ok && prev != inst {
			byID[d.id] = "both"
			continue
		}
		byID[d.id] = inst
	}
	for _, inst := range byID {
		switch inst {
		case "a":
			onlyA++
		case "b":
			onlyB++
		}
	}
	if onlyA == 0 || onlyB == 0 {
		t.Fatalf("partitions not shared: %d ids only from a, %d only from b", onlyA, onlyB)
	}
	t.Logf("first half shared: %d ids only from a, %d only from b", onlyA, onlyB)
	sent := total / 2

	// b leaves mid-stream; a takes over its partitions.
	b.shutdown()
	_, by, _ := erp.snapshot()
	bDelivered := by["b"]
	for sent < total {
		send(sent, min(sent+500, total))
		sent = min(sent+500, total)
	}
	eventually(t, 60*time.Second, "all records at the ERP", func() (bool, string) {
		n, by, all := erp.snapshot()
		return n == total, fmt.Sprintf("%d of %d distinct, %d deliveries, by instance %v", n, total, all, by)
	})
	_, by, all := erp.snapshot()
	if by["b"] != bDelivered {
		t.Fatalf("instance b delivered %d after it stopped", by["b"]-bDelivered)
	}
	t.Logf("all %d records delivered (%d deliveries), by instance %v", total, all, by)
	got := map[string]bool{}
	for _, d := range erp.deliveries() {
		got[d.id] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Fatalf("%s never reached the ERP", id)
		}
	}
}

// TestKafkaJetStreamDown: the bridge's JetStream server stops mid-stream.
// The source stops fetching and commits nothing it could not store; once
// the server is back every record reaches the ERP.
func TestKafkaJetStreamDown(t *testing.T) {
	const total, topic = 3000, "dealer.stock"
	kc := startKfake(t, topic)
	erp := startKafkaERP(t)
	js := startNATS(t, "")
	yaml := fmt.Sprintf(`environment: test
jetstream:
  url: %s
  durability: fsync
  replicas: 1
  stream_prefix: KDOWN
forward:
  retry_delay: 200ms
erp:
%s
partners:
%s
`, js.url(), indent(erp.sinkYAML("a"), "  "), kafkaPartnerYAML("stock", kc.Brokers, topic, "max_in_flight: 64\n"))
	startBridge(t, yaml, app.Options{})
	pub := kafkatest.NewPublisher(t, kc.Brokers, topic, nil)
	var want [][]string
	merge := func(w [][]string) {
		if want == nil {
			want = w
			return
		}
		for p := range w {
			want[p] = append(want[p], w[p]...)
		}
	}
	merge(publishSpreadFrom(t, pub, topic, 0, total/2))
	eventually(t, 60*time.Second, "the first half at the ERP", func() (bool, string) {
		n, _, _ := erp.snapshot()
		return n == total/2, fmt.Sprintf("%d of %d", n, total/2)
	})
	lagBefore := groupLag(t, kc, "dmzbridge-stock", topic)
	js.stop()
	t.Log("JetStream server stopped")
	merge(publishSpreadFrom(t, pub, topic, total/2, total))
	time.Sleep(3 * time.Second)
	// Nothing new can be stored, so nothing new may be committed.
	lagDown := groupLag(t, kc, "dmzbridge-stock", topic)
	if lagDown < int64(total/2) {
		t.Fatalf("group lag %d while JetStream is down, want at least %d: offsets of unstored records were committed", lagDown, total/2)
	}
	t.Logf("group lag %d before the outage, %d during it", lagBefore, lagDown)
	js.start(t)
	t.Log("JetStream server started again")
	eventually(t, 60*time.Second, "all records at the ERP", func() (bool, string) {
		n, _, all := erp.snapshot()
		return n == total, fmt.Sprintf("%d of %d distinct, %d deliveries", n, total, all)
	})
	checkPartitionOrder(t, erp.deliveries(), want)
}

// publishSpreadFrom publishes records from..to-1 round-robin over the
// partitions and returns their ids per partition (records before from are
// assumed to be in the topic already, spread the same way).
func publishSpreadFrom(t *testing.T, pub *kafkatest.Publisher, topic string, from, to int) [][]string {
	want := make([][]string, kafkaPartitions)
	recs := make([]kafkatest.Record, 0, to-from)
	for i := from; i < to; i++ {
		p := i % kafkaPartitions
		recs = append(recs, kafkatest.Record{Partition: p, Value: []byte(fmt.Sprintf(`{"seq":%d}`, i))})
		off := i / kafkaPartitions
		want[p] = append(want[p], kafkaconn.RecordID(topic, p, int64(off)))
	}
	pub.Publish(t, recs)
	return want
}

// countLate counts ids whose first occurrence in got comes after the first
// occurrence of a later id of the same partition. compared is how many
// distinct ids of want it found in got, unknown how many entries of got
// carry an id not in want; the caller checks both, so a mismatch in how
// ids are spelled cannot pass as "nothing late".
func countLate(got []erpDelivery, want [][]string) (late, compared, unknown int) {
	where := map[string][2]int{}
	for p, ids := range want {
		for i, id := range ids {
			where[id] = [2]int{p, i}
		}
	}
	last := make([]int, len(want))
	for i := range last {
		last[i] = -1
	}
	seen := map[string]bool{}
	for _, d := range got {
		w, ok := where[d.id]
		if !ok {
			unknown++
			continue
		}
		if seen[d.id] {
			continue
		}
		seen[d.id] = true
		compared++
		if w[1] < last[w[0]] {
			late++
			continue
		}
		last[w[0]] = w[1]
	}
	return late, compared, unknown
}

// watchSubject records the source id (Dmz-Original-Id) of every message
// published on subject at url, reconnecting for as long as the test runs.
// Not Nats-Msg-Id: on the ingest stream that is partner-scoped
// (store.DedupID), while the test's ids are the source's own.
func watchSubject(t *testing.T, url, subject string) *kafkaERP {
	w := &kafkaERP{}
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
		w.mu.Lock()
		w.got = append(w.got, erpDelivery{subject: m.Subject, id: m.Header.Get(bridge.HeaderOriginalID)})
		w.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return w
}
