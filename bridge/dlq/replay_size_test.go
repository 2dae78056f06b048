package dlq

import (
	"context"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// TestReplayOversizeWithoutBody: an entry a connector dead-lettered as
// too_large keeps no body; replay (and its dry run) leaves it rejected,
// even with no stage that would object to an empty payload.
func TestReplayOversizeWithoutBody(t *testing.T) {
	s, js := testStore(t)
	env := &bridge.Envelope{ID: "big", Partner: "bank-a", Source: "amqp", ReceivedAt: t0, Headers: map[string]string{}}
	msg := store.DeadLetterMsg(s.Topology().DeadLetterSubject("bank-a"), env,
		bridge.Reject(bridge.ReasonTooLarge, "body of 9000000 bytes exceeds max_message_bytes 8388608"), t0, t0)
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dry  bool
		want Outcome
	}{{true, WouldReject}, {false, StillRejected}} {
		r := &Replayer{Store: s, DryRun: tc.dry}
		res, err := r.Replay(context.Background(), mustList(t, s)[0])
		if err != nil || res.Outcome != tc.want || res.Reason != bridge.ReasonTooLarge {
			t.Fatalf("dry run %v: %+v %v, want %s too_large", tc.dry, res, err, tc.want)
		}
	}
	if n := msgs(t, js, s.Topology().IngestStream()); n != 0 {
		t.Fatalf("ingest holds %d", n)
	}
	if n := msgs(t, js, s.Topology().DeadLetterStream()); n != 1 {
		t.Fatalf("dead-letter stream holds %d, want the entry kept", n)
	}
}
