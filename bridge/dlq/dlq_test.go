package dlq

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

func testStore(t testing.TB) (*Store, jetstream.JetStream) {
	return testStoreSync(t, false)
}

// testStoreSync starts a private server; fsync makes it fsync every write
// as the bridge's embedded store does with durability: fsync.
func testStoreSync(t testing.TB, fsync bool) (*Store, jetstream.JetStream) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true, SyncAlways: fsync})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	topo := store.NewTopology("U")
	if err := topo.EnsureStreams(context.Background(), js, config.JetStream{Replicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return NewStore(js, topo), js
}

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func seed(t *testing.T, s *Store, id, partner, reason, in string, last time.Time) {
	t.Helper()
	env := &bridge.Envelope{ID: id, Partner: partner, Source: "nats", EventType: "payment.received", ReceivedAt: t0, Headers: map[string]string{}, Payload: []byte(`{"id":"` + id + `"}`)}
	msg := store.DeadLetterEntry(s.Topology().DeadLetterSubject(partner), env, store.Failure{Rejection: bridge.Reject(reason, "x"), Last: last, In: in})
	if _, err := s.JetStream().PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

func msgs(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

func TestFilter(t *testing.T) {
	s, _ := testStore(t)
	seed(t, s, "a1", "bank-a", bridge.ReasonSchemaInvalid, bridge.FailedAtIntake, t0)
	seed(t, s, "a2", "bank-a", bridge.ReasonMaxAttempts, bridge.FailedAtForward, t0.Add(time.Hour))
	seed(t, s, "c1", "dealer-c", bridge.ReasonMalformed, bridge.FailedAtIntake, t0.Add(2*time.Hour))
	cases := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"a1", "a2", "c1"}},
		{"partner", Filter{Partners: []string{"bank-a"}}, []string{"a1", "a2"}},
		{"reason", Filter{Reasons: []string{bridge.ReasonMalformed, bridge.ReasonMaxAttempts}}, []string{"a2", "c1"}},
		{"type", Filter{Types: []string{"order.created"}}, nil},
		{"since inclusive", Filter{Since: t0.Add(time.Hour)}, []string{"a2", "c1"}},
		{"until exclusive", Filter{Until: t0.Add(time.Hour)}, []string{"a1"}},
		{"id by sequence or event id", Filter{IDs: []string{"3", "a1"}}, []string{"a1", "c1"}},
		{"combined", Filter{Partners: []string{"bank-a"}, Since: t0.Add(time.Minute)}, []string{"a2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.List(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if len(ids) != len(tc.want) {
				t.Fatalf("got %v, want %v", ids, tc.want)
			}
			for i := range ids {
				if ids[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", ids, tc.want)
				}
			}
		})
	}
	st := Stats(mustList(t, s))
	if len(st) != 3 || st[0].Partner != "bank-a" || st[0].Reason != bridge.ReasonMaxAttempts || st[2].Partner != "dealer-c" || st[0].Count != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func mustList(t *testing.T, s *Store) []*Entry {
	t.Helper()
	es, err := s.List(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestReplayAfterCrashBeforeDelete: a first run stored the replay and died
// before deleting the entry; the re-run stores nothing twice and removes
// the entry.
func TestReplayAfterCrashBeforeDelete(t *testing.T) {
	s, js := testStore(t)
	seed(t, s, "ev-1", "bank-a", bridge.ReasonMaxAttempts, bridge.FailedAtForward, t0)
	e := mustList(t, s)[0]
	// The first run's publish, exactly as Replay makes it.
	first := &Replayer{Store: s}
	env, _ := e.Envelope()
	msg := store.ToMsg(s.Topology().IngestSubject("bank-a"), env)
	msg.Header.Set(bridge.HeaderMsgID, ReplayMsgID(s.Topology().DeadLetterStream(), e.Seq))
	msg.Header.Set(bridge.HeaderOriginalID, env.ID)
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	res, err := first.Replay(context.Background(), e)
	if err != nil || res.Outcome != Replayed || !res.Duplicate {
		t.Fatalf("re-run: %+v, %v; want replayed as a duplicate", res, err)
	}
	if n := msgs(t, js, s.Topology().IngestStream()); n != 1 {
		t.Fatalf("ingest holds %d copies, want 1", n)
	}
	if n := msgs(t, js, s.Topology().DeadLetterStream()); n != 0 {
		t.Fatalf("entry not deleted: %d left", n)
	}
	// A third run finds nothing to do: the entry is gone.
	if _, err := s.Get(context.Background(), e.Seq); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after replay: %v", err)
	}
}

// TestReplayNotSwallowedByDuplicateWindow: the event's own id was stored
// moments ago, yet the replay is stored, and the forwarder sees the
// event's own id.
func TestReplayNotSwallowedByDuplicateWindow(t *testing.T) {
	s, js := testStore(t)
	orig := nats.NewMsg(s.Topology().IngestSubject("bank-a"))
	orig.Header.Set(nats.MsgIdHdr, "ev-1")
	orig.Header.Set(bridge.HeaderPartner, "bank-a")
	if _, err := js.PublishMsg(context.Background(), orig); err != nil {
		t.Fatal(err)
	}
	seed(t, s, "ev-1", "bank-a", bridge.ReasonSchemaInvalid, bridge.FailedAtIntake, t0)
	rejectOnce := true
	r := &Replayer{Store: s, Stages: []bridge.Stage{bridge.StageFunc{StageName: "schema", Fn: func(_ context.Context, e *bridge.Envelope) error {
		if rejectOnce {
			rejectOnce = false
			return bridge.Reject(bridge.ReasonSchemaInvalid, "still wrong")
		}
		e.Payload = []byte(`{"masked":true}`)
		return nil
	}}}}
	e := mustList(t, s)[0]
	if res, err := r.Replay(context.Background(), e); err != nil || res.Outcome != StillRejected || res.Reason != bridge.ReasonSchemaInvalid {
		t.Fatalf("first replay: %+v %v", res, err)
	}
	if n := msgs(t, js, s.Topology().DeadLetterStream()); n != 1 {
		t.Fatalf("a still rejected entry must stay: %d", n)
	}
	if res, err := r.Replay(context.Background(), e); err != nil || res.Outcome != Replayed || res.Duplicate {
		t.Fatalf("second replay: %+v %v", res, err)
	}
	if n := msgs(t, js, s.Topology().IngestStream()); n != 2 {
		t.Fatalf("ingest holds %d, want the original and the replay", n)
	}
	st, _ := js.Stream(context.Background(), s.Topology().IngestStream())
	m, err := st.GetMsg(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	env, err := store.Decode(m.Subject, m.Header, m.Data)
	if err != nil || env.ID != "ev-1" || string(env.Payload) != `{"masked":true}` || m.Header.Get(bridge.HeaderReplayOf) != "1" {
		t.Fatalf("replayed message: %+v %v", env, err)
	}
}

// TestReplayForwardFailureSkipsStages: an event dead-lettered by the
// forwarder was validated and masked before it was stored; replaying it
// must not run the stages on the masked payload again.
func TestReplayForwardFailureSkipsStages(t *testing.T) {
	s, js := testStore(t)
	seed(t, s, "ev-2", "bank-a", bridge.ReasonMaxAttempts, bridge.FailedAtForward, t0)
	r := &Replayer{Store: s, Stages: []bridge.Stage{bridge.StageFunc{StageName: "schema", Fn: func(context.Context, *bridge.Envelope) error {
		return bridge.Reject(bridge.ReasonSchemaInvalid, "masked value fails the pattern")
	}}}}
	res, err := r.Replay(context.Background(), mustList(t, s)[0])
	if err != nil || res.Outcome != Replayed {
		t.Fatalf("%+v %v", res, err)
	}
	if n := msgs(t, js, s.Topology().IngestStream()); n != 1 {
		t.Fatalf("ingest holds %d", n)
	}
}
