package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// submission is one Submit call as the core source made it.
type submission struct {
	env  *bridge.Envelope
	done func(error)
}

// handIntake is a bridge.Intake whose storage outcome the test decides: each
// Submit is handed to the test on a channel together with its done, and
// nothing is "stored" until the test calls done. The real pipeline is
// covered by the integration suite; here only the connector's contract with
// the partner is under test: the reply follows done, never precedes it.
type handIntake struct {
	subs   chan submission
	refuse error // returned by Submit instead of accepting, when set

	mu      sync.Mutex
	pending []func(error)
}

func newHandIntake() *handIntake { return &handIntake{subs: make(chan submission)} }

func (in *handIntake) Submit(ctx context.Context, env *bridge.Envelope, done func(error)) error {
	if in.refuse != nil {
		return in.refuse
	}
	// done is called exactly once by contract; the once also lets cleanup
	// settle whatever a failed test left unresolved.
	var once sync.Once
	d := func(err error) { once.Do(func() { done(err) }) }
	in.mu.Lock()
	in.pending = append(in.pending, d)
	in.mu.Unlock()
	select {
	case in.subs <- submission{env: env, done: d}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// settle fails every done the test did not call, so a failed test does
// not leave the source waiting out its 30 s drain for outstanding events.
func (in *handIntake) settle() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, d := range in.pending {
		d(errors.New("test ended"))
	}
}

// coreFixture is an embedded nats-server without JetStream (a partner's
// plain NATS), a running core-NATS source on it, and the partner's own
// connection.
type coreFixture struct {
	in      *handIntake
	partner *nats.Conn
	subject string
}

func newCoreFixture(t *testing.T, in *handIntake) *coreFixture {
	t.Helper()
	h := bridgetest.StartNATS(t, &server.Options{})

	const subject = "partner.orders"
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(fmt.Sprintf("url: %s\nsubject: partner.>\n", h.URL())), &node); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(node.Content[0], bridge.SourceSpec{Partner: "acme", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- src.Run(ctx, in) }()
	// Cleanups run last-in first-out: registered after the server's stop,
	// this one runs first, so the source stops while its server is up.
	t.Cleanup(func() {
		in.settle()
		cancel()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("source Run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("source did not stop")
		}
	})

	// Core NATS drops what is published before the subscription exists, so
	// wait for the source's queue subscription to be registered on the server.
	deadline := time.Now().Add(10 * time.Second)
	for {
		sz, err := h.Server().Subsz(&server.SubszOptions{Subscriptions: true, Test: subject})
		if err != nil {
			t.Fatal(err)
		}
		if sz.Total > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("source never subscribed to partner.>")
		}
		time.Sleep(20 * time.Millisecond)
	}
	partner, err := nats.Connect(h.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(partner.Close)
	return &coreFixture{in: in, partner: partner, subject: subject}
}

// request publishes id as a request-reply message and returns the channel
// its reply arrives on, without waiting: the test has to look at what the
// partner sees while the event is still unstored.
func (f *coreFixture) request(t *testing.T, id string) <-chan *nats.Msg {
	t.Helper()
	inbox := f.partner.NewRespInbox()
	replies := make(chan *nats.Msg, 4)
	sub, err := f.partner.ChanSubscribe(inbox, replies)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	m := nats.NewMsg(f.subject)
	m.Reply = inbox
	m.Header.Set(nats.MsgIdHdr, id)
	m.Data = []byte(`{"order":"` + id + `"}`)
	if err := f.partner.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if err := f.partner.Flush(); err != nil {
		t.Fatal(err)
	}
	return replies
}

func (f *coreFixture) submitted(t *testing.T) submission {
	t.Helper()
	select {
	case s := <-f.in.subs:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the source never submitted the partner's message")
		return submission{}
	}
}

func reply(t *testing.T, replies <-chan *nats.Msg) string {
	t.Helper()
	select {
	case m := <-replies:
		return string(m.Data)
	case <-time.After(10 * time.Second):
		t.Fatal("no reply to the partner")
		return ""
	}
}

// noReply asserts the partner has no answer yet. A reply that was sent
// would arrive within a few milliseconds on loopback; the wait only bounds
// how long we look, so a slow machine can make this miss a bug but never
// fail a correct source.
func noReply(t *testing.T, replies <-chan *nats.Msg, why string) {
	t.Helper()
	select {
	case m := <-replies:
		t.Fatalf("partner got %q %s", m.Data, why)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestCoreRequestReplyAckAfterStore: on core NATS the only delivery
// guarantee a partner has is request-reply: it keeps the event and resends
// it until it reads "+OK". So "+OK" must be sent only once the pipeline has
// stored the event, and a failed store must say so, letting the partner
// resend rather than forget an event the bridge does not have.
func TestCoreRequestReplyAckAfterStore(t *testing.T) {
	t.Run("ok-only-after-stored", func(t *testing.T) {
		f := newCoreFixture(t, newHandIntake())
		// Two events in flight at once, stored in the opposite order: each
		// reply must follow its own event's done, not arrival order and not
		// a neighbour's success.
		first := f.request(t, "ord-1")
		second := f.request(t, "ord-2")
		s1, s2 := f.submitted(t), f.submitted(t)
		if s1.env.ID != "ord-1" || s2.env.ID != "ord-2" {
			t.Fatalf("submitted ids %q, %q; want ord-1, ord-2 (Nats-Msg-Id, in order)", s1.env.ID, s2.env.ID)
		}
		if s1.env.Partner != "acme" || s1.env.Headers["Nats-Subject"] != f.subject || string(s1.env.Payload) != `{"order":"ord-1"}` {
			t.Errorf("envelope partner %q subject %q payload %q", s1.env.Partner, s1.env.Headers["Nats-Subject"], s1.env.Payload)
		}
		noReply(t, first, "before its event was stored")
		noReply(t, second, "before its event was stored")

		s2.done(nil)
		if got := reply(t, second); got != "+OK" {
			t.Fatalf("reply after store: %q, want +OK", got)
		}
		noReply(t, first, "when only the other event was stored")
		s1.done(nil)
		if got := reply(t, first); got != "+OK" {
			t.Fatalf("reply after store: %q, want +OK", got)
		}
	})

	t.Run("err-when-not-stored", func(t *testing.T) {
		f := newCoreFixture(t, newHandIntake())
		replies := f.request(t, "ord-3")
		s := f.submitted(t)
		noReply(t, replies, "before the store outcome was known")
		s.done(errors.New("jetstream: publish timeout"))
		if got := reply(t, replies); got != "-ERR not stored" {
			t.Fatalf("reply after a failed store: %q, want -ERR not stored", got)
		}
	})

	t.Run("err-when-refused", func(t *testing.T) {
		// Submit refusing (the pipeline is stopping) means done will never
		// be called; the partner must still get a negative answer at once
		// instead of waiting for a reply that cannot come.
		f := newCoreFixture(t, &handIntake{refuse: errors.New("pipeline stopping")})
		if got := reply(t, f.request(t, "ord-4")); got != "-ERR bridge shutting down" {
			t.Fatalf("reply when Submit refuses: %q, want -ERR bridge shutting down", got)
		}
	})
}
