// Package conformance is the shared test suite for inbound connectors
// (bridge.Source). A connector's test provides a Harness that talks to a
// real broker and a Features value saying what the source guarantees; Run
// then checks each guarantee with its own subtest, driving the source
// through an in-memory Intake that plays the pipeline's part.
//
// Adding a connector: implement Harness in a _test.go file of the
// connector's package (see connectors/amqp and connectors/nats) and call
//
//	conformance.Run(t, conformance.Features{...}, func(t *testing.T) conformance.Harness { ... })
//
// Every subtest gets a fresh harness, so each should use its own queue,
// topic or stream.
package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/cloudevents"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Message is one partner message as the harness publishes it.
type Message struct {
	// ID is carried as the broker's native message id (AMQP message-id,
	// Nats-Msg-Id, a Kafka header the source is configured to read) and
	// must come out as the envelope's ID.
	ID      string
	Body    []byte
	Headers map[string]string
}

// Harness drives one broker-side channel (queue, stream, topic) for one
// partner. It is small on purpose: four methods are all a new connector
// needs to be checked against every property below.
type Harness interface {
	// Source returns a new, not yet running source for the harness's
	// partner. Every call consumes the same queue/durable/consumer group,
	// so a second source resumes where a stopped one left off. The source's
	// in-flight window (prefetch, max_in_flight) must equal Features.Window
	// when that is set.
	Source(t testing.TB) bridge.Source
	// Publish sends msgs in order and returns once the broker has confirmed
	// all of them. It retries by itself across a Disconnect.
	Publish(t testing.TB, msgs []Message)
	// Disconnect makes the broker drop the source's connection(s), or
	// restarts the broker, while the source runs. Called only when
	// Features.Reconnects is set.
	Disconnect(t testing.TB)
}

// Features says what a source guarantees; each one enables a subtest.
type Features struct {
	// Ordered: a single source submits messages in the order they were
	// published (first deliveries; redeliveries may interleave).
	Ordered bool
	// RedeliversOnNack: a message whose done reports an error is delivered
	// again later.
	RedeliversOnNack bool
	// ResumesAfterClose: a source stopped and started again continues where
	// it stopped: nothing acknowledged comes back, nothing unacknowledged is
	// lost, including messages held in the pipeline when it stopped.
	ResumesAfterClose bool
	// Reconnects: the source recovers by itself after Harness.Disconnect.
	Reconnects bool
	// Window is the source's in-flight bound as the harness configures it;
	// with done never called, at most Window messages are submitted. 0
	// skips the window test.
	Window int
	// MaxConcurrentSubmits bounds Submit calls in progress at once while
	// Submit blocks (default 1: the source waits for Submit).
	MaxConcurrentSubmits int
	// Timeout bounds each wait for the broker (default 30s).
	Timeout time.Duration
}

// Run runs every subtest the features enable.
func Run(t *testing.T, f Features, newHarness func(t *testing.T) Harness) {
	if f.Timeout == 0 {
		f.Timeout = 30 * time.Second
	}
	if f.MaxConcurrentSubmits == 0 {
		f.MaxConcurrentSubmits = 1
	}
	t.Run("DeliversAll", func(t *testing.T) { testDeliversAll(t, f, newHarness(t)) })
	t.Run("BlockingSubmitStopsIntake", func(t *testing.T) { testBlockingSubmit(t, f, newHarness(t)) })
	claimed(t, "RedeliversOnNack", "RedeliversOnNack", f.RedeliversOnNack, func(t *testing.T) { testRedeliversOnNack(t, f, newHarness(t)) })
	claimed(t, "WindowBoundsInFlight", "Window", f.Window != 0, func(t *testing.T) { testWindow(t, f, newHarness(t)) })
	claimed(t, "ResumesAfterClose", "ResumesAfterClose", f.ResumesAfterClose, func(t *testing.T) { testResumesAfterClose(t, f, newHarness(t)) })
	claimed(t, "HeldAtCloseNotLost", "ResumesAfterClose", f.ResumesAfterClose, func(t *testing.T) { testHeldAtClose(t, f, newHarness(t)) })
	claimed(t, "Reconnects", "Reconnects", f.Reconnects, func(t *testing.T) { testReconnects(t, f, newHarness(t)) })
}

// claimed runs test as subtest name when the connector claims feature,
// and reports it skipped otherwise.
func claimed(t *testing.T, name, feature string, on bool, test func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		if !on {
			t.Skipf("feature %s not claimed", feature)
		}
		test(t)
	})
}

// Messages returns n messages with ids prefix-00000… and a traceparent.
func Messages(prefix string, n int) []Message {
	out := make([]Message, n)
	for i := range out {
		out[i] = Message{
			ID:   fmt.Sprintf("%s-%05d", prefix, i),
			Body: []byte(fmt.Sprintf(`{"seq":%d}`, i)),
			Headers: map[string]string{
				bridge.HeaderTraceParent: fmt.Sprintf("00-%032x-%016x-01", i+1, i+1),
			},
		}
	}
	return out
}

func testDeliversAll(t *testing.T, f Features, h Harness) {
	msgs := Messages("all", 300)
	in := NewIntake(Store)
	run := Start(t, h.Source(t), in)
	h.Publish(t, msgs)
	in.WaitStored(t, f.Timeout, IDs(msgs))
	run.Stop(t)

	first := in.Firsts()
	partner := ""
	for i, m := range msgs {
		env := first[m.ID]
		if env == nil {
			t.Fatalf("message %s missing", m.ID)
		}
		if string(env.Payload) != string(m.Body) {
			t.Fatalf("%s: payload %q, want %q", m.ID, env.Payload, m.Body)
		}
		if got := env.Headers[bridge.HeaderTraceParent]; got != m.Headers[bridge.HeaderTraceParent] {
			t.Fatalf("%s: traceparent %q, want %q", m.ID, got, m.Headers[bridge.HeaderTraceParent])
		}
		if env.Partner == "" || (i > 0 && env.Partner != partner) {
			t.Fatalf("%s: partner %q (first message had %q)", m.ID, env.Partner, partner)
		}
		partner = env.Partner
		if env.Source == "" {
			t.Fatalf("%s: envelope names no source connector", m.ID)
		}
		if got := ERPPartnerMessageID(t, env); got != m.ID {
			t.Fatalf("%s: the ERP event's partnermessageid is %q, want the partner's id", m.ID, got)
		}
	}
	if f.Ordered {
		order := in.FirstOrder()
		for i, m := range msgs {
			if order[i] != m.ID {
				t.Fatalf("order broken at %d: got %s, want %s", i, order[i], m.ID)
			}
		}
	}
}

func testBlockingSubmit(t *testing.T, f Features, h Harness) {
	msgs := Messages("block", 50)
	in := NewIntake(Store)
	gate := in.Block()
	run := Start(t, h.Source(t), in)
	h.Publish(t, msgs)
	waitFor(t, f.Timeout, "a first Submit", func() (bool, string) {
		n := in.Calls()
		return n > 0, fmt.Sprint(n)
	})
	// Give a misbehaving source time to call Submit again.
	time.Sleep(time.Second)
	if n := in.Calls(); n > f.MaxConcurrentSubmits {
		t.Fatalf("Submit called %d times while blocked; want at most %d", n, f.MaxConcurrentSubmits)
	}
	close(gate)
	in.WaitStored(t, f.Timeout, IDs(msgs))
	run.Stop(t)
}

func testRedeliversOnNack(t *testing.T, f Features, h Harness) {
	msgs := Messages("nack", 40)
	// Every message fails its first delivery.
	in := NewIntake(Store)
	in.SetPolicyFunc(func(_ *bridge.Envelope, n int) Action {
		if n == 1 {
			return Fail
		}
		return Store
	})
	run := Start(t, h.Source(t), in)
	h.Publish(t, msgs)
	in.WaitStored(t, f.Timeout, IDs(msgs))
	run.Stop(t)
	for _, m := range msgs {
		if n := in.Deliveries(m.ID); n < 2 {
			t.Fatalf("%s stored after %d deliveries; the failed one was not redelivered", m.ID, n)
		}
	}
}

func testWindow(t *testing.T, f Features, h Harness) {
	msgs := Messages("window", 3*f.Window)
	in := NewIntake(Hold)
	run := Start(t, h.Source(t), in)
	h.Publish(t, msgs)
	waitFor(t, f.Timeout, "the window to fill", func() (bool, string) {
		n := in.Calls()
		return n >= f.Window, fmt.Sprintf("%d of %d", n, f.Window)
	})
	time.Sleep(time.Second)
	if n := in.Calls(); n > f.Window {
		t.Fatalf("%d messages submitted with none settled; window is %d", n, f.Window)
	}
	in.SetPolicy(Store)
	in.Release(nil)
	in.WaitStored(t, f.Timeout, IDs(msgs))
	run.Stop(t)
}

func testResumesAfterClose(t *testing.T, f Features, h Harness) {
	msgs := Messages("resume", 100)
	first, second := msgs[:50], msgs[50:]
	in1 := NewIntake(Store)
	run := Start(t, h.Source(t), in1)
	h.Publish(t, first)
	in1.WaitStored(t, f.Timeout, IDs(first))
	run.Stop(t)

	h.Publish(t, second)
	in2 := NewIntake(Store)
	run = Start(t, h.Source(t), in2)
	in2.WaitStored(t, f.Timeout, IDs(second))
	// Acknowledgements must have reached the broker before the first source
	// stopped: give stray redeliveries a moment to show up.
	time.Sleep(time.Second)
	run.Stop(t)
	for _, m := range first {
		if n := in2.Deliveries(m.ID); n > 0 {
			t.Fatalf("%s was stored and acknowledged by the first source but delivered again %d times", m.ID, n)
		}
	}
}

func testHeldAtClose(t *testing.T, f Features, h Harness) {
	n := 20
	if f.Window > 0 && f.Window < n {
		n = f.Window
	}
	msgs := Messages("held", n)
	in1 := NewIntake(Hold)
	run := Start(t, h.Source(t), in1)
	h.Publish(t, msgs)
	waitFor(t, f.Timeout, "all messages submitted", func() (bool, string) {
		c := in1.Calls()
		return c >= n, fmt.Sprintf("%d of %d", c, n)
	})
	// A source that acknowledges before done would have done so by now.
	time.Sleep(500 * time.Millisecond)
	// Stop while the pipeline still holds everything, then report the
	// failure a shutting-down pipeline reports for what it did not store.
	run.cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		run.wait(t, f.Timeout)
	}()
	for finished := false; !finished; {
		in1.Release(fmt.Errorf("pipeline shut down before storing"))
		select {
		case <-stopped:
			finished = true
		case <-time.After(50 * time.Millisecond):
		}
	}
	if s := in1.StoredCount(); s != 0 {
		t.Fatalf("intake stored %d messages; the test never stores", s)
	}
	in2 := NewIntake(Store)
	run = Start(t, h.Source(t), in2)
	in2.WaitStored(t, f.Timeout, IDs(msgs))
	run.Stop(t)
}

func testReconnects(t *testing.T, f Features, h Harness) {
	msgs := Messages("reconnect", 200)
	in := NewIntake(Store)
	run := Start(t, h.Source(t), in)
	h.Publish(t, msgs[:100])
	waitFor(t, f.Timeout, "messages before the disconnect", func() (bool, string) {
		c := in.StoredCount()
		return c >= 50, fmt.Sprint(c)
	})
	h.Disconnect(t)
	h.Publish(t, msgs[100:])
	in.WaitStored(t, f.Timeout, IDs(msgs))
	select {
	case err := <-run.done:
		t.Fatalf("Run returned after a disconnect instead of reconnecting: %v", err)
	default:
	}
	run.Stop(t)
}

// IDs lists the messages' ids in order.
func IDs(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// Running is a source started by Start.
type Running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Start runs src against in until Stop (or the end of the test).
func Start(t testing.TB, src bridge.Source, in bridge.Intake) *Running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, in) }()
	t.Cleanup(func() { r.cancel(); r.wait(t, time.Minute) })
	return r
}

// Stop cancels the source and waits for Run to return; Run must return nil.
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	r.cancel()
	if err := r.wait(t, time.Minute); err != nil {
		t.Fatalf("Run returned %v after its context ended", err)
	}
}

func (r *Running) wait(t testing.TB, d time.Duration) error {
	r.once.Do(func() {
		select {
		case r.err = <-r.done:
		case <-time.After(d):
			r.err = fmt.Errorf("Run did not return within %v of its context ending", d)
		}
	})
	return r.err
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last state: %s", d, what, last)
}

// erpPartnerMessageID is the partnermessageid of the CloudEvent the ERP
// receives for env, after the envelope went through storage as the
// pipeline stores it.
func ERPPartnerMessageID(t testing.TB, env *bridge.Envelope) string {
	t.Helper()
	stored, err := store.FromMsg(store.ToMsg("ingest.conformance", env))
	if err != nil {
		t.Fatalf("storage round trip of %s: %v", env.ID, err)
	}
	msg, err := cloudevents.Normalizer(cloudevents.Options{})(stored)
	if err != nil {
		t.Fatalf("normalize %s: %v", env.ID, err)
	}
	ev, err := cloudevents.Parse(msg.Body)
	if err != nil {
		t.Fatalf("parse the ERP event of %s: %v", env.ID, err)
	}
	return ev.PartnerMsgID
}
