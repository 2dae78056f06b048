package forward

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/store"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// compactorFixture stores five bank-a and two dealer-c events and returns
// bank-a's forwarder consumer with the five delivered, none acknowledged.
func compactorFixture(t *testing.T) (jetstream.JetStream, store.Topology, jetstream.Stream, jetstream.Consumer, []jetstream.Msg) {
	t.Helper()
	ctx := context.Background()
	js := bridgetest.JetStream(t, jetstream.WithPublishAsyncMaxPending(64))
	topo := store.NewTopology("C")
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

// TestAckFloorOfOldConsumer: a fresh consumer resumes after what the old
// one confirmed, which stays stored for the duplicate window; a missing
// consumer means starting from the first stored event.
func TestAckFloorOfOldConsumer(t *testing.T) {
	js, topo, st, _, msgs := compactorFixture(t)
	ctx := context.Background()
	ackAll(t, msgs[0], msgs[1])
	floor, err := ackFloorOf(ctx, js, topo.IngestStream(), topo.ForwarderConsumer("bank-a"))
	if err != nil {
		t.Fatal(err)
	}
	// The floor passes dealer-c's events between bank-a's, never an
	// unconfirmed bank-a event.
	if lo, hi := msgSeq(t, msgs[1]), msgSeq(t, msgs[2]); floor < lo || floor >= hi {
		t.Fatalf("ack floor %d, want in [%d, %d)", floor, lo, hi)
	}
	if n := streamMsgCount(t, st); n != 7 {
		t.Fatalf("looking up the floor changed the stream: %d messages, want 7", n)
	}
	if floor, err := ackFloorOf(ctx, js, topo.IngestStream(), topo.ForwarderConsumer("nobody")); err != nil || floor != 0 {
		t.Fatalf("no consumer yet: floor %d, err %v; want 0, nil", floor, err)
	}
}

// TestCompactorKeepsConfirmedForTheWindow: confirmed events stay until
// they were confirmed a duplicate window ago, so JetStream still knows
// their ids after a restart; over half the byte limit, they go at once.
func TestCompactorKeepsConfirmedForTheWindow(t *testing.T) {
	_, topo, st, cons, msgs := compactorFixture(t)
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	c := newCompactor(st, cons, topo.IngestSubject("bank-a"), 0, slog.New(slog.DiscardHandler))
	c.window, c.now = 10*time.Minute, func() time.Time { return now }

	ackAll(t, msgs[0], msgs[1])
	if err := c.purge(ctx); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgCount(t, st); n != 7 {
		t.Fatalf("events confirmed just now were purged: %d messages left, want 7", n)
	}
	now = now.Add(9 * time.Minute)
	ackAll(t, msgs[2], msgs[3], msgs[4])
	if err := c.purge(ctx); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgCount(t, st); n != 7 {
		t.Fatalf("9 minutes into a 10-minute window: %d messages left, want 7", n)
	}
	now = now.Add(time.Minute)
	if err := c.purge(ctx); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgCount(t, st); n != 5 {
		t.Fatalf("a window after the first two were confirmed: %d messages left, want 5", n)
	}
	// Over half the byte limit: the rest, confirmed a minute ago, goes now.
	c.maxBytes = 1
	if err := c.purge(ctx); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgCount(t, st); n != 2 {
		t.Fatalf("over the byte budget: %d messages left, want dealer-c's 2", n)
	}
}

// TestProgressResume: a replacement consumer starts after the last ack
// floor seen and every event finished in a row after it; events finished
// beyond a gap are named for deletion.
func TestProgressResume(t *testing.T) {
	tests := []struct {
		name      string
		floor     uint64
		done      []uint64
		wantStart uint64
		wantDel   []uint64
	}{
		{"nothing seen", 0, nil, 0, nil},
		{"floor only", 5, nil, 6, nil},
		{"contiguous after floor", 5, []uint64{6, 7, 8}, 9, nil},
		{"gap", 5, []uint64{6, 8, 9}, 7, []uint64{8, 9}},
		{"below floor ignored", 5, []uint64{3, 4}, 6, nil},
		{"from the start", 0, []uint64{1, 2, 4}, 3, []uint64{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProgress(tt.floor)
			for _, s := range tt.done {
				p.finished(s)
			}
			start, del := p.resume()
			if start != tt.wantStart || !slices.Equal(del, tt.wantDel) {
				t.Fatalf("resume = %d, %v; want %d, %v", start, del, tt.wantStart, tt.wantDel)
			}
			p.resumed(start)
			if s2, d2 := p.resume(); len(d2) != 0 || (start > 0 && s2 != start) {
				t.Fatalf("after resumed(%d): resume = %d, %v", start, s2, d2)
			}
		})
	}
}

// TestEnsureStreamsRefusesWorkQueueIngest: an ingest stream left by an
// earlier version cannot be switched to limits retention in place; startup
// says so with the way out instead of a bare JetStream error.
func TestEnsureStreamsRefusesWorkQueueIngest(t *testing.T) {
	js := bridgetest.JetStream(t, jetstream.WithPublishAsyncMaxPending(64))
	topo := store.NewTopology("W")
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
	if !errors.Is(err, store.ErrWorkQueueIngest) {
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
