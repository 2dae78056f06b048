package store

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// BenchmarkDuplicateWindowRetention measures what keeping forwarded events
// for duplicate_window costs, against purging them at once (which loses
// their ids on a restart): disk per event, heap per event while running
// and after a restart (JetStream rebuilds its duplicate index from the
// kept events), and the restart time that rebuild adds. One partner,
// events of about 1 KiB with the bridge's headers. The figures are per
// event; multiply by rate × window (e.g. 200 events/s × 600 s = 120,000).
func BenchmarkDuplicateWindowRetention(b *testing.B) {
	const n = 50_000
	payload := []byte(`{"specversion":"1.0","type":"payment.received","invoice":"` + strings.Repeat("x", 950) + `"}`)
	for _, keep := range []bool{false, true} {
		name := "purged"
		if keep {
			name = "kept"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				dir := b.TempDir()
				base := heapInUse()
				srv := benchServer(b, dir)
				js, nc := benchConnect(b, srv)
				topo := NewTopology("B")
				ctx := context.Background()
				if err := topo.EnsureStreams(ctx, js, config.JetStream{Replicas: 1, DuplicateWindow: 10 * time.Minute}); err != nil {
					b.Fatal(err)
				}
				for i := range n {
					env := &bridge.Envelope{ID: fmt.Sprintf("ev-%07d", i), Partner: "bank-a", Source: "nats", EventType: "payment.received",
						ReceivedAt: time.Now(), Headers: map[string]string{}, Payload: payload}
					if _, err := js.PublishMsgAsync(ToMsg(topo.IngestSubject("bank-a"), env), jetstream.WithStallWait(time.Minute)); err != nil {
						b.Fatal(err)
					}
				}
				select {
				case <-js.PublishAsyncComplete():
				case <-time.After(2 * time.Minute):
					b.Fatal("publishes not acknowledged")
				}
				st, err := js.Stream(ctx, topo.IngestStream())
				if err != nil {
					b.Fatal(err)
				}
				if !keep {
					if err := st.Purge(ctx, jetstream.WithPurgeSubject(topo.IngestSubject("bank-a"))); err != nil {
						b.Fatal(err)
					}
				}
				running := heapInUse() - base
				nc.Close()
				srv.Shutdown()
				srv.WaitForShutdown()
				disk := dirBytes(b, dir)

				base = heapInUse()
				t0 := time.Now()
				srv = benchServer(b, dir)
				js, nc = benchConnect(b, srv)
				if _, err := js.Stream(ctx, topo.IngestStream()); err != nil {
					b.Fatal(err)
				}
				restart := time.Since(t0)
				// The index is rebuilt: a copy of the first event is refused.
				env := &bridge.Envelope{ID: "ev-0000000", Partner: "bank-a", Source: "nats", Headers: map[string]string{}, Payload: payload}
				ack, err := js.PublishMsg(ctx, ToMsg(topo.IngestSubject("bank-a"), env))
				if err != nil {
					b.Fatal(err)
				}
				if ack.Duplicate != keep {
					b.Fatalf("copy after restart: duplicate=%v, want %v", ack.Duplicate, keep)
				}
				after := heapInUse() - base
				nc.Close()
				srv.Shutdown()
				srv.WaitForShutdown()

				b.ReportMetric(float64(disk)/n, "disk-B/event")
				b.ReportMetric(float64(running)/n, "heap-B/event")
				b.ReportMetric(float64(after)/n, "heap-after-restart-B/event")
				b.ReportMetric(float64(restart.Milliseconds()), "restart-ms")
			}
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

func benchServer(b *testing.B, dir string) *server.Server {
	b.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		b.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		b.Fatal("nats-server not ready")
	}
	return srv
}

func benchConnect(b *testing.B, srv *server.Server) (jetstream.JetStream, *nats.Conn) {
	b.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	return js, nc
}

func dirBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			total += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return total
}
