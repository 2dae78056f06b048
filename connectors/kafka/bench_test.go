package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/connectors/conformance"
	"github.com/dmzbridge/dmzbridge/connectors/kafka/kafkatest"
)

// BenchmarkSourceThroughput measures the source alone: records already in
// a 3-partition topic on kfake, an intake that stores at once (no
// JetStream). It reports records/s from the first fetch to the last
// commit-eligible settle.
//
//	go test -run '^$' -bench SourceThroughput -benchtime 1x ./connectors/kafka/
func BenchmarkSourceThroughput(b *testing.B) {
	const n, topic = 30000, "bench"
	kc := kafkatest.Start(b, 3, []string{topic}, testClusterOpts()...)
	recs := make([]kafkatest.Record, n)
	ids := make([]string, n)
	for i := range recs {
		ids[i] = fmt.Sprintf("b-%06d", i)
		recs[i] = kafkatest.Record{Partition: i % 3, Value: make([]byte, 1024), Headers: map[string]string{"X-Message-Id": ids[i]}}
	}
	kafkatest.NewPublisher(b, kc.Brokers, topic, nil).Publish(b, recs)
	for i := 0; i < b.N; i++ {
		src := newTestSource(b, fmt.Sprintf("brokers: [%s]\ntopic: %s\ngroup_id: bench-%d\nid_header: X-Message-Id\n%s", kc.Brokers[0], topic, i, fastGroup))
		in := conformance.NewIntake(conformance.Store)
		start := time.Now()
		run := conformance.Start(b, src, in)
		in.WaitStored(b, 2*time.Minute, ids)
		d := time.Since(start)
		run.Stop(b)
		b.ReportMetric(float64(n)/d.Seconds(), "records/s")
		fmt.Printf("kafka source: %d records of 1 KiB over 3 partitions in %v: %.0f records/s (includes group join)\n", n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
}
