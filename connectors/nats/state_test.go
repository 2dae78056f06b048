package nats

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/connectors/conformance"
)

func waitState(t *testing.T, src *Source, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for src.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("state %q, want %q", src.State(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSourceStateFollowsConnection: the source reports its partner link as
// it is — connecting before Run, up once connected, connecting while the
// partner's server is gone, up again after it returns, down after Run.
func TestSourceStateFollowsConnection(t *testing.T) {
	srv := bridgetest.StartNATS(t, &server.Options{})

	var node yaml.Node
	doc := fmt.Sprintf("url: %s\nsubject: partner.>\n", srv.URL())
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	s, err := NewSource(node.Content[0], bridge.SourceSpec{Partner: "state", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	src := s.(*Source)
	if _, ok := bridge.Source(src).(bridge.StateReporter); !ok {
		t.Fatal("the NATS source does not implement bridge.StateReporter")
	}
	if st := src.State(); st != bridge.StateConnecting {
		t.Fatalf("before Run: %q, want %q", st, bridge.StateConnecting)
	}

	run := conformance.Start(t, src, conformance.NewIntake(conformance.Store))
	waitState(t, src, bridge.StateUp)

	srv.Stop()
	waitState(t, src, bridge.StateConnecting)
	if got := bridge.StateOf(src); got != bridge.StateConnecting {
		t.Fatalf("bridge.StateOf = %q with the server down", got)
	}

	srv.Start(t)
	waitState(t, src, bridge.StateUp)

	run.Stop(t)
	if st := src.State(); st != bridge.StateDown {
		t.Fatalf("after Run: %q, want %q", st, bridge.StateDown)
	}
}
