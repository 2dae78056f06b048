package dlq

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// seedN stores n dead-letter entries of about 1 KB.
func seedN(b *testing.B, s *Store, n int) {
	b.Helper()
	payload := []byte(fmt.Sprintf(`{"pad":%q}`, make([]byte, 1000)))
	for i := range n {
		env := &bridge.Envelope{ID: fmt.Sprintf("ev-%d", i), Partner: "bank-a", Source: "nats", EventType: "payment.received",
			ReceivedAt: t0, Headers: map[string]string{}, Payload: payload}
		msg := bridge.DeadLetterEntry(s.Topology().DeadLetterSubject("bank-a"), env,
			bridge.Failure{Rejection: bridge.Reject(bridge.ReasonMaxAttempts, "x"), Last: t0, In: bridge.FailedAtForward})
		if _, err := s.JetStream().PublishMsgAsync(msg); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 || i == n-1 {
			select {
			case <-s.JetStream().PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("seed not acknowledged")
			}
		}
	}
}

// BenchmarkReplay measures replay throughput: per entry a fetch, a
// synchronous publish into the ingest stream and a delete.
func BenchmarkReplay(b *testing.B) {
	s, _ := testStore(b)
	seedN(b, s, b.N)
	seqs, err := s.Seqs(context.Background(), Filter{})
	if err != nil || len(seqs) != b.N {
		b.Fatalf("%d seqs, %v", len(seqs), err)
	}
	r := &Replayer{Store: s}
	b.ResetTimer()
	start := time.Now()
	for _, seq := range seqs {
		e, err := s.Get(context.Background(), seq)
		if err != nil {
			b.Fatal(err)
		}
		if res, err := r.Replay(context.Background(), e); err != nil || res.Outcome != Replayed {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkScan measures how fast list, stats and selection read entries.
func BenchmarkScan(b *testing.B) {
	s, _ := testStore(b)
	const n = 5000
	seedN(b, s, n)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		seqs, err := s.Seqs(context.Background(), Filter{Reasons: []string{bridge.ReasonMaxAttempts}})
		if err != nil || len(seqs) != n {
			b.Fatalf("%d, %v", len(seqs), err)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "entries/s")
}
