package dlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/seal"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// testKey returns a fixed key; n picks one of several.
func testKey(t testing.TB, n int) *seal.Key {
	t.Helper()
	k, err := seal.ParseKey(strings.Repeat(string(rune('a'+n)), 64)[:64])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testKeyring(t testing.TB) *seal.Keyring { return seal.NewKeyring(testKey(t, 0)) }

// seedSealed stores n intake failures carrying a personal value, sealed
// under k.
func seedSealed(t *testing.T, s *Store, k *seal.Keyring, n int) {
	t.Helper()
	undo := store.SealDeadLetters(s.Topology(), k)
	defer undo()
	for i := range n {
		id := fmt.Sprintf("ev-%d", i)
		env := &bridge.Envelope{ID: id, Partner: "bank-a", Source: "nats", EventType: "payment.received", ReceivedAt: t0,
			Headers: map[string]string{"X-Customer-Mail": "jane@example.org"}, Payload: []byte(`{"iban":"DE89370400440532013000","n":` + fmt.Sprint(i) + `}`)}
		msg := store.DeadLetterEntry(s.Topology().DeadLetterSubject("bank-a"), env,
			store.Failure{Rejection: bridge.Reject(bridge.ReasonSchemaInvalid, "iban DE89370400440532013000 is bad"), Last: t0, In: bridge.FailedAtIntake})
		if _, err := s.JetStream().PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
}

// state is every entry's sequence and key id, to show nothing changed.
func state(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	if err := s.ScanHeaders(context.Background(), Filter{}, func(e *Entry) error {
		fmt.Fprintf(&b, "%d:%s ", e.Seq, e.KeyID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestKeyRotationAndReseal(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t)
	oldKey, newKey, otherKey := testKey(t, 0), testKey(t, 1), testKey(t, 2)
	seedSealed(t, s, seal.NewKeyring(oldKey), 3)
	before := state(t, s)
	if strings.Count(before, oldKey.ID) != 3 {
		t.Fatalf("entries not sealed under the old key: %s", before)
	}

	// Without the key, or with a keyring that lacks the old key: a clear
	// error, and neither reseal nor replay changes anything.
	for _, tc := range []struct {
		name string
		keys *seal.Keyring
		want error
	}{
		{"no key", nil, seal.ErrNoKey},
		{"old key not listed", seal.NewKeyring(newKey), seal.ErrUnknownKey},
		{"unrelated keys", seal.NewKeyring(otherKey, newKey), seal.ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Keys = tc.keys
			if _, err := Reseal(ctx, s, nil, false, Filter{}, Engine{}); !errors.Is(err, tc.want) {
				t.Fatalf("reseal: %v, want %v", err, tc.want)
			}
			if _, err := (&Replayer{Store: s}).Run(ctx, Filter{}, Engine{}); !errors.Is(err, tc.want) {
				t.Fatalf("replay: %v, want %v", err, tc.want)
			}
			e, err := s.Get(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Open(s.Keys); !errors.Is(err, tc.want) || !e.Sealed {
				t.Fatalf("open: %v (sealed %v), want %v", err, e.Sealed, tc.want)
			}
			if got := state(t, s); got != before {
				t.Fatalf("entries changed: %s, were %s", got, before)
			}
			if n := msgs(t, s.JetStream(), s.Topology().IngestStream()); n != 0 {
				t.Fatalf("%d events reached the ingest stream", n)
			}
		})
	}

	// Rotated: the new key seals, the old one is listed for reading.
	s.Keys = seal.NewKeyring(newKey, oldKey)
	e, err := s.Get(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Open(s.Keys); err != nil {
		t.Fatal(err)
	}
	if string(e.Payload) != `{"iban":"DE89370400440532013000","n":1}` || e.Headers["X-Customer-Mail"] != "jane@example.org" || e.Error != "iban DE89370400440532013000 is bad" {
		t.Fatalf("old-key entry opened as %q %v %q", e.Payload, e.Headers, e.Error)
	}
	sum, err := Reseal(ctx, s, nil, true, Filter{}, Engine{})
	if err != nil || sum.WouldReseal != 3 || state(t, s) != before {
		t.Fatalf("dry run: %+v %v, state %s", sum, err, state(t, s))
	}
	sum, err = Reseal(ctx, s, nil, false, Filter{}, Engine{})
	if err != nil || sum.Resealed != 3 {
		t.Fatalf("reseal: %+v %v", sum, err)
	}
	after := state(t, s)
	if strings.Count(after, newKey.ID) != 3 || strings.Contains(after, oldKey.ID) {
		t.Fatalf("after reseal: %s", after)
	}
	// A second run finds nothing to do.
	if sum, err = Reseal(ctx, s, nil, false, Filter{}, Engine{}); err != nil || sum.Current != 3 || sum.Resealed != 0 {
		t.Fatalf("second reseal: %+v %v", sum, err)
	}
	// The old key can go: every entry opens with the new key alone, with
	// payload, headers and detail exactly as before.
	s.Keys = seal.NewKeyring(newKey)
	var opened []string
	if err := s.Scan(ctx, Filter{}, func(e *Entry) error {
		if err := e.Open(s.Keys); err != nil {
			return err
		}
		opened = append(opened, string(e.Payload)+" "+e.Headers["X-Customer-Mail"]+" "+e.Error+" "+e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"iban":"DE89370400440532013000","n":0} jane@example.org iban DE89370400440532013000 is bad ev-0`,
		`{"iban":"DE89370400440532013000","n":1} jane@example.org iban DE89370400440532013000 is bad ev-1`,
		`{"iban":"DE89370400440532013000","n":2} jane@example.org iban DE89370400440532013000 is bad ev-2`,
	}
	if strings.Join(opened, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after reseal:\n%s", strings.Join(opened, "\n"))
	}
}

// TestSealedBoxBoundToEntry: a sealed box moved onto another entry's
// clear metadata (another partner or event id) does not open.
func TestSealedBoxBoundToEntry(t *testing.T) {
	k := testKeyring(t)
	undo := store.SealDeadLetters(store.NewTopology("BOUND"), k)
	defer undo()
	env := &bridge.Envelope{ID: "a-1", Partner: "bank-a", Source: "nats", ReceivedAt: t0, Headers: map[string]string{}, Payload: []byte(`{"x":1}`)}
	m := store.DeadLetterEntry(store.NewTopology("BOUND").DeadLetterSubject("bank-a"), env, store.Failure{Rejection: bridge.Reject(bridge.ReasonMalformed, "d"), Last: t0})
	if !store.IsSealed(m.Header) {
		t.Fatal("entry not sealed")
	}
	for _, tc := range []struct{ header, value string }{
		{bridge.HeaderPartner, "bank-b"},
		{bridge.HeaderOriginalID, "a-2"},
	} {
		h := nats.Header{}
		for k, v := range m.Header {
			h[k] = v
		}
		h.Set(tc.header, tc.value)
		if _, _, err := store.OpenEntry(h, m.Data, k); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("%s changed: %v, want %v", tc.header, err, seal.ErrOpen)
		}
	}
	if _, data, err := store.OpenEntry(m.Header, m.Data, k); err != nil || string(data) != `{"x":1}` {
		t.Fatalf("%q %v", data, err)
	}
}
