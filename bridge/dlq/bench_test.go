package dlq

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// seedN stores n dead-letter entries of about 1 KB, group-committed as
// the bridge stores them.
func seedN(b *testing.B, s *Store, n int) {
	b.Helper()
	w := store.NewWriter(s.JetStream(), config.JetStream{Replicas: 1}.WithDefaults(), s.Topology().StreamOf, slog.New(slog.DiscardHandler))
	payload := []byte(fmt.Sprintf(`{"pad":%q}`, make([]byte, 1000)))
	errs := make(chan error, n)
	for i := range n {
		env := &bridge.Envelope{ID: fmt.Sprintf("ev-%d", i), Partner: "bank-a", Source: "nats", EventType: "payment.received",
			ReceivedAt: t0, Headers: map[string]string{"X-Ref": "r"}, Payload: payload}
		msg := store.DeadLetterEntry(s.Topology().DeadLetterSubject("bank-a"), env,
			store.Failure{Rejection: bridge.Reject(bridge.ReasonMaxAttempts, "x"), Last: t0, In: bridge.FailedAtForward})
		if err := w.Write(context.Background(), msg, func(err error) { errs <- err }); err != nil {
			b.Fatal(err)
		}
	}
	for range n {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// benchEntries is how many entries BenchmarkReplay replays per iteration;
// DMZ_BENCH_ENTRIES overrides the default 100,000.
func benchEntries(b *testing.B) int {
	if v := os.Getenv("DMZ_BENCH_ENTRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("DMZ_BENCH_ENTRIES=%q", v)
		}
		return n
	}
	return 100_000
}

// BenchmarkReplay replays 100,000 sealed dead-letter entries of ~1 KB
// into the ingest stream with `dlq replay`'s engine (pipelined publishes,
// records and deletes) on a store that fsyncs every write, and prints
// entries/s. Run it once per figure:
//
//	go test -run '^$' -bench BenchmarkReplay -benchtime 1x ./bridge/dlq
func BenchmarkReplay(b *testing.B) {
	for _, fsync := range []bool{true, false} {
		b.Run("fsync="+strconv.FormatBool(fsync), func(b *testing.B) {
			n := benchEntries(b)
			var total time.Duration
			for range b.N {
				b.StopTimer()
				s, _ := testStoreSync(b, fsync)
				undo := store.SealDeadLetters(s.Topology(), testKeyring(b))
				s.Keys = testKeyring(b)
				st := time.Now()
				seedN(b, s, n)
				b.Logf("seed %v", time.Since(st))
				undo()
				trail, err := audit.OpenTrail(context.Background(), s.JetStream(), s.Topology(), &config.Config{JetStream: config.JetStream{Replicas: 1}.WithDefaults()}, "bench", nil)
				if err != nil {
					b.Fatal(err)
				}
				r := &Replayer{Store: s, Recorder: TrailRecorder{Trail: trail, Stream: s.Topology().DeadLetterStream()}}
				b.StartTimer()
				start := time.Now()
				sum, err := r.Run(context.Background(), Filter{}, Engine{})
				total += time.Since(start)
				b.Logf("run %v", time.Since(start))
				if err != nil || sum.Replayed != n {
					b.Fatalf("%+v %v", sum, err)
				}
				if left := msgs(b, s.JetStream(), s.Topology().DeadLetterStream()); left != 0 {
					b.Fatalf("%d entries left", left)
				}
			}
			rate := float64(n*b.N) / total.Seconds()
			b.ReportMetric(rate, "entries/s")
			b.Logf("replayed %d entries in %v: %.0f entries/s", n*b.N, total, rate)
		})
	}
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
