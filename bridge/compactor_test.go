package bridge

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// compactorFixture stores five bank-a and two dealer-c events and returns
// bank-a's forwarder consumer with the five delivered, none acknowledged.
func compactorFixture(t *testing.T) (jetstream.JetStream, Topology, jetstream.Stream, jetstream.Consumer, []jetstream.Msg) {
	t.Helper()
	ctx := context.Background()
	js := testJetStream(t)
	topo := NewTopology("C")
	if err := topo.EnsureStreams(ctx, js, config.JetStream{Replicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := js.Publish(ctx, topo.IngestSubject("bank-a"), []byte("a"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if _, err := js.Publish(ctx, topo.IngestSubject("dealer-c"), []byte("d"+strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, err := js.Stream(ctx, topo.IngestStream())
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, topo.IngestStream(),
		topo.ForwarderConsumerConfig("bank-a", config.Forward{AckWait: time.Minute, MaxAckPending: 64}))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(5, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 5 {
		t.Fatalf("fetched %d of 5 bank-a events", len(msgs))
	}
	return js, topo, st, cons, msgs
}

func streamMsgCount(t *testing.T, st jetstream.Stream) uint64 {
	t.Helper()
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func ackAll(t *testing.T, msgs ...jetstream.Msg) {
	t.Helper()
	for _, m := range msgs {
		if err := m.DoubleAck(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompactorPurgesOnlyConfirmed: a purge removes a partner's events up
// to its ack floor and nothing else — not an unconfirmed event, not the
// confirmed ones behind it, not another partner's.
func TestCompactorPurgesOnlyConfirmed(t *testing.T) {
	_, topo, st, cons, msgs := compactorFixture(t)
	ctx := context.Background()
	c := newCompactor(st, cons, topo.IngestSubject("bank-a"), 0, slog.New(slog.DiscardHandler))

	// Events 1, 2, 4 and 5 confirmed; 3 still waits for the ERP.
	ackAll(t, msgs[0], msgs[1], msgs[3], msgs[4])
	if err := c.purge(ctx); err != nil {
		t.Fatal(err)
	}
	// Left: bank-a 3, 4, 5 (above the floor) and dealer-c's two.
	if n := streamMsgCount(t, st); n != 5 {
		t.Fatalf("after purge to the ack floor the stream holds %d messages, want 5", n)
	}
	unconfirmed, err := st.GetMsg(ctx, msgSeq(t, msgs[2]))
	if err != nil || string(unconfirmed.Data) != "a2" {
		t.Fatalf("the unconfirmed event is gone: %v", err)
	}

	ackAll(t, msgs[2])
	if err := c.purge(ctx); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgCount(t, st); n != 2 {
		t.Fatalf("after every bank-a event is confirmed the stream holds %d, want dealer-c's 2", n)
	}
	left, err := st.GetMsg(ctx, 2)
	if err != nil || left.Subject != topo.IngestSubject("dealer-c") {
		t.Fatalf("another partner's event was purged: %v", err)
	}
}

// TestPurgeConfirmedBeforeConsumerReset: what the old consumer confirmed
// is purged before a fresh consumer starts from the first stored event,
// so a restart does not forward it to the ERP again; a missing consumer
// is no error.
func TestPurgeConfirmedBeforeConsumerReset(t *testing.T) {
	js, topo, st, _, msgs := compactorFixture(t)
	ctx := context.Background()
	ackAll(t, msgs[0], msgs[1])
	if err := purgeConfirmed(ctx, js, topo.IngestStream(), topo.ForwarderConsumer("bank-a"), topo.IngestSubject("bank-a")); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgCount(t, st); n != 5 {
		t.Fatalf("stream holds %d, want 5 (bank-a 3..5 and dealer-c's 2)", n)
	}
	if err := purgeConfirmed(ctx, js, topo.IngestStream(), topo.ForwarderConsumer("nobody"), topo.IngestSubject("nobody")); err != nil {
		t.Fatalf("no consumer yet must not fail: %v", err)
	}
}

// TestEnsureStreamsRefusesWorkQueueIngest: an ingest stream left by an
// earlier version cannot be switched to limits retention in place; startup
// says so with the way out instead of a bare JetStream error.
func TestEnsureStreamsRefusesWorkQueueIngest(t *testing.T) {
	js := testJetStream(t)
	topo := NewTopology("W")
	ctx := context.Background()
	old := topo.IngestConfig(config.JetStream{Replicas: 1})
	old.Retention = jetstream.WorkQueuePolicy
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	err := topo.EnsureStreams(ctx, js, config.JetStream{Replicas: 1, DuplicateWindow: time.Minute})
	if err == nil {
		t.Fatal("a work-queue ingest stream was accepted")
	}
	if !errors.Is(err, ErrWorkQueueIngest) {
		t.Fatalf("error %v does not report the work-queue ingest stream", err)
	}
}

func msgSeq(t *testing.T, m jetstream.Msg) uint64 {
	t.Helper()
	md, err := m.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	return md.Sequence.Stream
}
