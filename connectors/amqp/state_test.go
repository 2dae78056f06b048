package amqp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/connkit"
	"github.com/dmzbridge/dmzbridge/connectors/amqp/amqptest"
	"github.com/dmzbridge/dmzbridge/connectors/conformance"
)

func rabbitSource(t *testing.T, doc string) *Source {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(node.Content[0], bridge.SourceSpec{Partner: "state", Logger: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	return src.(*Source)
}

func waitPhase(t *testing.T, src *Source, want connkit.Phase, cond func(connkit.State) bool) connkit.State {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := src.Snapshot()
		if st.Phase == want && (cond == nil || cond(st)) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %+v, want phase %s", st, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPassiveStateAndRecovery: in passive mode a missing queue is an error
// the source reports in its state and retries; once an operator creates
// the queue, it connects by itself. A forced close shows up as a second
// connect.
func TestPassiveStateAndRecovery(t *testing.T) {
	conn := amqptest.Require(t)
	name := amqptest.Unique("dmz-passive")
	exchange, queue := name+".x", name+".q"
	amqptest.Cleanup(t, []string{queue}, []string{exchange})
	src := rabbitSource(t, fmt.Sprintf("url: %s\nexchange: %s\nqueue: %s\npassive: true\nconnection_name: %s\nreconnect_initial: 50ms\nreconnect_max: 300ms\n",
		amqptest.URL, exchange, queue, name))
	if st := src.Snapshot(); st.Phase != connkit.PhaseIdle {
		t.Fatalf("before Run: %+v", st)
	}
	run := conformance.Start(t, src, conformance.NewIntake(conformance.Store))
	st := waitPhase(t, src, connkit.PhaseWaiting, func(s connkit.State) bool { return s.LastError != "" })
	if !strings.Contains(st.LastError, "passive") || !strings.Contains(st.LastError, "404") {
		t.Fatalf("passive check error should name the missing object: %q", st.LastError)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	// Passive mode must not have created anything.
	if _, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil); err == nil {
		t.Fatal("passive source declared the queue")
	}
	ch, err = conn.Channel() // the failed passive check closed the channel
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, src, connkit.PhaseConnected, func(s connkit.State) bool { return s.Connects == 1 })
	if n := amqptest.CloseConnections(t, name); n != 1 {
		t.Fatalf("closed %d connections named %s, want 1", n, name)
	}
	st = waitPhase(t, src, connkit.PhaseConnected, func(s connkit.State) bool { return s.Connects == 2 })
	if !strings.Contains(st.LastError, "closed") {
		t.Fatalf("last error after a forced close: %q", st.LastError)
	}
	run.Stop(t)
	if st := src.Snapshot(); st.Phase != connkit.PhaseStopped || st.InFlight != 0 {
		t.Fatalf("after Run: %+v", st)
	}
}

// TestDeclareMismatchReported: an existing queue of another type is a
// configuration conflict the broker refuses; the source reports it instead
// of silently consuming something else.
func TestDeclareMismatchReported(t *testing.T) {
	conn := amqptest.Require(t)
	name := amqptest.Unique("dmz-mismatch")
	exchange, queue := name+".x", name+".q"
	amqptest.Cleanup(t, []string{queue}, []string{exchange})
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeClassic}); err != nil {
		t.Fatal(err)
	}
	src := rabbitSource(t, fmt.Sprintf("url: %s\nexchange: %s\nqueue: %s\nreconnect_initial: 50ms\nreconnect_max: 300ms\n", amqptest.URL, exchange, queue))
	conformance.Start(t, src, conformance.NewIntake(conformance.Store))
	st := waitPhase(t, src, connkit.PhaseWaiting, func(s connkit.State) bool { return s.LastError != "" })
	if !strings.Contains(st.LastError, "PRECONDITION_FAILED") {
		t.Fatalf("error %q should carry the broker's refusal", st.LastError)
	}
}
