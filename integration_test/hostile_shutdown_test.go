package integration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// hostileShutdownTimeout is shutdown_timeout in the SIGTERM tests: short,
// so that a stop that waits for it is visible against the bound.
const hostileShutdownTimeout = 2 * time.Second

// TestHostileShutdownNATS, TestHostileShutdownAMQP,
// TestHostileShutdownKafka: SIGTERM while hostile events flow. One round
// of hostile and valid events is decided first (traffic is flowing), then
// a deeply nested event is held inside the chain (a stage before
// validation that ignores its context) with a second round queued behind
// it. The stop — what SIGTERM does: the serve context ends — returns
// within shutdown_timeout although the held event never finishes. A
// restarted bridge then decides every event sent: nothing is lost, each
// valid one reaches the ERP and each hostile one is dead-lettered with
// its reason.
func TestHostileShutdownNATS(t *testing.T) {
	// ack_wait is short: the held event's delivery is redelivered only
	// once it expires.
	runHostileShutdown(t, hostileNATSPartner(t, "hostilesd", ", ack_wait: 2s"))
}

func TestHostileShutdownAMQP(t *testing.T) {
	runHostileShutdown(t, hostileAMQPPartner(t))
}

func TestHostileShutdownKafka(t *testing.T) {
	runHostileShutdown(t, hostileKafkaPartner(t, "hostile.shutdown"))
}

// heldID is the message id of the event the holding stage keeps.
const heldID = "sd-held"

func runHostileShutdown(t *testing.T, partner hostilePartner) {
	schemasDir, err := filepath.Abs(filepath.Join("..", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	erpSrv := startNATS(t, "")
	enc, ejs := erpSrv.js(t)
	createStream(t, ejs, "HOSTILE_SD_ERP", "erp.>")
	erp := &erpIDs{seen: map[string]bool{}}
	sub, err := enc.Subscribe("erp.>", func(m *nats.Msg) { erp.add(m.Header.Get(nats.MsgIdHdr)) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	erpYAML := fmt.Sprintf("type: nats\noptions:\n  url: %s\n  subject: erp.events.{partner}\n  jetstream: true\n", erpSrv.url())
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erpYAML, strings.TrimRight(partner.block, "\n")) +
		"schemas_dir: " + schemasDir + "\n" + fmt.Sprintf("shutdown_timeout: %s\n", hostileShutdownTimeout)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	chain, err := app.NewChain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The holder runs before the configured chain, so the held event is
	// a hostile one still undecided, and everything else goes through
	// the real rules.
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var enteredOnce sync.Once
	holder := bridge.StageFunc{StageName: "hold", Fn: func(_ context.Context, env *bridge.Envelope) error {
		if strings.Contains(env.ID, heldID) {
			enteredOnce.Do(func() { close(entered) })
			<-release // ignores its context, like a stage that never returns
		}
		return nil
	}}
	rb := startBridge(t, yaml, app.Options{Stages: append([]bridge.Stage{holder}, chain.Intake...)})

	events := hostileEvents()
	want := map[string]hostileEvent{}
	round := func(r int) {
		for i, ev := range events {
			id := fmt.Sprintf("sd-%d-hostile-%02d", r, i)
			partner.publish(t, id, ev.body)
			want[id] = ev
		}
		for i := range 5 {
			id := fmt.Sprintf("sd-%d-valid-%02d", r, i)
			partner.publish(t, id, valPayment(200+10*r+i, "DE89370400440532013000", "x@acme.example"))
			want[id] = hostileEvent{name: id}
		}
	}

	// Round 0 is decided before the stop: the bridge is busy with hostile
	// traffic, not idle.
	round(0)
	waitDecided(t, rb, erp, want, 30*time.Second)

	// The held event is a hostile one (objects nested to the size limit);
	// round 1 is queued behind it when the stop comes.
	held := events[1]
	partner.publish(t, heldID, held.body)
	want[heldID] = held
	<-entered
	round(1)

	start := time.Now()
	rb.stop()
	select {
	case <-rb.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the bridge did not stop during hostile traffic")
	}
	stopped := time.Since(start)
	rb.stop = nil
	rb.b.Close()
	closed := time.Since(start)
	t.Logf("stop during hostile traffic: pipeline stopped after %v, bridge closed after %v (shutdown_timeout %v)",
		stopped.Round(time.Millisecond), closed.Round(time.Millisecond), hostileShutdownTimeout)
	// The pipeline's drain is bounded by shutdown_timeout, with a little
	// slack for the scheduler on a shared machine; closing connections and
	// the embedded server after it takes well under a second.
	if stopped > hostileShutdownTimeout+time.Second {
		t.Fatalf("the pipeline stopped after %v, shutdown_timeout is %v", stopped, hostileShutdownTimeout)
	}
	if closed > hostileShutdownTimeout+2*time.Second {
		t.Fatalf("the bridge closed after %v, shutdown_timeout is %v", closed, hostileShutdownTimeout)
	}
	if erp.has(heldID) {
		t.Fatal("the held event reached the ERP")
	}

	// Released only now: what the abandoned stage does after the stop
	// must not count. A restarted bridge with the configured chain gets
	// everything that was not acknowledged again and decides it.
	once.Do(func() { close(release) })
	rb2 := startBridge(t, yaml, app.Options{})
	waitDecided(t, rb2, erp, want, 60*time.Second)
}

// erpIDs records the message ids seen at the ERP.
type erpIDs struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (e *erpIDs) add(id string) {
	e.mu.Lock()
	e.seen[id] = true
	e.mu.Unlock()
}

func (e *erpIDs) has(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen[id]
}

// waitDecided waits until every event of want is decided — a valid one
// (reason "") at the ERP, a hostile one in the dead-letter stream — and
// then checks each: the right reason, the original bytes, never both.
func waitDecided(t *testing.T, rb *runningBridge, erp *erpIDs, want map[string]hostileEvent, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	js := rb.b.JetStream()
	dlqStream := rb.b.Topology().DeadLetterStream()
	dlq := map[string]jetstream.Msg{}
	eventually(t, d, "every event forwarded or dead-lettered", func() (bool, string) {
		c, err := js.OrderedConsumer(ctx, dlqStream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("dead-letter consumer: %v", err)
		}
		for {
			batch, err := c.FetchNoWait(100)
			if err != nil {
				t.Fatalf("fetch dead letters: %v", err)
			}
			n := 0
			for m := range batch.Messages() {
				dlq[m.Headers().Get(bridge.HeaderOriginalID)] = m
				n++
			}
			if n == 0 {
				break
			}
		}
		var missing []string
		for id, ev := range want {
			if _, dead := dlq[id]; ev.reason == "" && !erp.has(id) || ev.reason != "" && !dead {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0, fmt.Sprintf("%d of %d undecided: %.200v", len(missing), len(want), missing)
	})
	for id, ev := range want {
		m, dead := dlq[id]
		switch {
		case ev.reason == "" && dead:
			t.Errorf("%s: dead-lettered (%s), should reach the ERP", id, m.Headers().Get(bridge.HeaderError))
		case ev.reason == "":
		case erp.has(id):
			t.Errorf("%s (%s): both dead-lettered and at the ERP", id, ev.name)
		case m.Headers().Get(bridge.HeaderReason) != ev.reason:
			t.Errorf("%s (%s): reason %s (%s), want %s", id, ev.name, m.Headers().Get(bridge.HeaderReason), m.Headers().Get(bridge.HeaderError), ev.reason)
		case string(m.Data()) != ev.body:
			t.Errorf("%s (%s): the dead-letter entry does not keep the original bytes", id, ev.name)
		}
	}
}
