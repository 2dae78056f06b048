package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

func batchTestStream(t *testing.T, js jetstream.JetStream, name string, atomicOK bool, maxMsgs int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if maxMsgs == 0 {
		maxMsgs = -1
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage,
		Duplicates: time.Minute, AllowAtomicPublish: atomicOK, MaxMsgs: maxMsgs, Discard: jetstream.DiscardNew,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func batchOpts() config.Batch {
	return config.Batch{Mode: config.BatchAtomic, MaxMessages: 100, Linger: 2 * time.Millisecond, InFlight: 2, CommitTimeout: 5 * time.Second}
}

func testMsg(subject, id string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Header.Set(bridge.HeaderMsgID, id)
	m.Data = []byte("payload " + id)
	return m
}

// writeAll writes n messages spread over subjects and waits for every done.
func writeAll(t *testing.T, w Writer, subjects []string, n int, idPrefix string) (stored, failed int64) {
	t.Helper()
	var wg sync.WaitGroup
	var ok, bad atomic.Int64
	for i := range n {
		wg.Add(1)
		subj := subjects[i%len(subjects)]
		err := w.Write(context.Background(), testMsg(subj, fmt.Sprintf("%s-%d", idPrefix, i)), func(err error) {
			if err == nil {
				ok.Add(1)
			} else {
				bad.Add(1)
			}
			wg.Done()
		})
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	wg.Wait()
	return ok.Load(), bad.Load()
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestBatchWriterCommitsEveryMessage(t *testing.T) {
	js := bridgetest.JetStream(t, jetstream.WithPublishAsyncMaxPending(64))
	batchTestStream(t, js, "BW1", true, 0)
	w := newBatchWriter(js, batchOpts(), 64, 5*time.Second, firstToken, slog.New(slog.DiscardHandler))
	stored, failed := writeAll(t, w, []string{"BW1.a", "BW1.b", "BW1.c"}, 3000, "m")
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stored != 3000 || failed != 0 {
		t.Fatalf("stored %d failed %d, want 3000/0", stored, failed)
	}
	if n := streamMsgs(t, js, "BW1"); n != 3000 {
		t.Fatalf("stream holds %d messages, want 3000", n)
	}
	st := w.Stats()
	if st.FellBack != 0 || st.Committed != 3000 {
		t.Fatalf("stats %+v: want every message group-committed", st)
	}
	// Batches of up to 100 over three subjects: far fewer commits than messages.
	if st.Batches > 300 {
		t.Fatalf("%d batches for 3000 messages: not batching", st.Batches)
	}
}

func TestBatchWriterDuplicates(t *testing.T) {
	js := bridgetest.JetStream(t, jetstream.WithPublishAsyncMaxPending(64))
	batchTestStream(t, js, "BW2", true, 0)
	w := newBatchWriter(js, batchOpts(), 64, 5*time.Second, firstToken, slog.New(slog.DiscardHandler))
	// The same 500 ids twice, interleaved, so copies meet inside one batch
	// and in later batches (where the stream's duplicate window catches
	// them and the batch falls back to single publishes).
	var wg sync.WaitGroup
	var ok, bad atomic.Int64
	for round := range 2 {
		for i := range 500 {
			wg.Add(2)
			for range 2 {
				_ = round
				err := w.Write(context.Background(), testMsg("BW2.x", fmt.Sprintf("d-%d", i)), func(err error) {
					if err == nil {
						ok.Add(1)
					} else {
						bad.Add(1)
					}
					wg.Done()
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok.Load() != 2000 || bad.Load() != 0 {
		t.Fatalf("ok %d bad %d, want 2000/0", ok.Load(), bad.Load())
	}
	if n := streamMsgs(t, js, "BW2"); n != 500 {
		t.Fatalf("stream holds %d messages, want 500 distinct ids", n)
	}
}

func TestBatchWriterFallsBackWithoutAtomicPublish(t *testing.T) {
	js := bridgetest.JetStream(t, jetstream.WithPublishAsyncMaxPending(64))
	batchTestStream(t, js, "BW3", false, 0)
	var logs syncBuffer
	w := newBatchWriter(js, batchOpts(), 64, 5*time.Second, firstToken, slog.New(slog.NewTextHandler(&logs, nil)))
	stored, failed := writeAll(t, w, []string{"BW3.a"}, 1000, "f")
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stored != 1000 || failed != 0 {
		t.Fatalf("stored %d failed %d", stored, failed)
	}
	if n := streamMsgs(t, js, "BW3"); n != 1000 {
		t.Fatalf("stream holds %d, want 1000", n)
	}
	if !w.disabled.Load() {
		t.Fatalf("group commit still on after the server refused it; log: %s", logs.String())
	}
}

func TestBatchWriterNeverAcksWhatIsNotStored(t *testing.T) {
	js := bridgetest.JetStream(t, jetstream.WithPublishAsyncMaxPending(64))
	batchTestStream(t, js, "BW4", true, 150)
	w := newBatchWriter(js, batchOpts(), 64, 5*time.Second, firstToken, slog.New(slog.DiscardHandler))
	var ok, bad atomic.Int64
	for i := range 400 {
		err := w.Write(context.Background(), testMsg("BW4.a", fmt.Sprintf("l-%d", i)), func(err error) {
			if err == nil {
				ok.Add(1)
			} else {
				bad.Add(1)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The stream is full after 150: the rest keep retrying until Close
	// gives up, and each must then report an error, never success.
	time.Sleep(1500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = w.Close(ctx)
	if n := streamMsgs(t, js, "BW4"); n != 150 {
		t.Fatalf("stream holds %d, want its limit 150", n)
	}
	if ok.Load() > 150 {
		t.Fatalf("%d acknowledged but only 150 stored", ok.Load())
	}
	if ok.Load()+bad.Load() != 400 {
		t.Fatalf("ok %d + failed %d != 400 outcomes", ok.Load(), bad.Load())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

var _ io.Writer = (*syncBuffer)(nil)

// firstToken groups the test streams' subjects (NAME.x) by stream.
func firstToken(subject string) string {
	if i := strings.IndexByte(subject, '.'); i >= 0 {
		return subject[:i]
	}
	return subject
}

// TestBatchWriterOneBatchPerStreamKeepsSubjectOrder: several partners'
// subjects of one stream share batches, and each subject's messages are
// stored in the order they were written.
func TestBatchWriterOneBatchPerStreamKeepsSubjectOrder(t *testing.T) {
	js := bridgetest.JetStream(t, jetstream.WithPublishAsyncMaxPending(64))
	batchTestStream(t, js, "ORD", true, 0)
	w := newBatchWriter(js, batchOpts(), 64, 5*time.Second, firstToken, slog.New(slog.DiscardHandler))
	defer w.Close(context.Background())
	subjects := []string{"ORD.a", "ORD.b", "ORD.c"}
	const n = 900
	if stored, failed := writeAll(t, w, subjects, n, "o"); stored != n || failed != 0 {
		t.Fatalf("stored %d, failed %d of %d", stored, failed, n)
	}
	st := w.Stats()
	// 900 messages in batches of at most 100 over three subjects: per-subject
	// batches would need at least 9, and the shared group should rarely need
	// many more than that.
	if st.Committed != n || st.Batches < 9 {
		t.Fatalf("stats %+v", st)
	}
	last := map[string]int{}
	s, err := js.Stream(context.Background(), "ORD")
	if err != nil {
		t.Fatal(err)
	}
	mixed := false
	prevSubj, prevBatch := "", ""
	for seq := uint64(1); seq <= n; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		var i int
		if _, err := fmt.Sscanf(m.Header.Get(bridge.HeaderMsgID), "o-%d", &i); err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[m.Subject]; ok && i < prev {
			t.Fatalf("%s: message %d stored after %d", m.Subject, i, prev)
		}
		last[m.Subject] = i
		batch := m.Header.Get(HeaderBatchID)
		if batch != "" && batch == prevBatch && prevSubj != m.Subject {
			mixed = true
		}
		prevSubj, prevBatch = m.Subject, batch
	}
	if !mixed {
		t.Fatal("no batch held more than one subject: the writer did not group by stream")
	}
}
