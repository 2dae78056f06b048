package amqp

import (
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// TestConnectorState: the link state the bridge's metrics and status read
// (bridge.StateOf) follows the source's phase; State keeps its snapshot.
func TestConnectorState(t *testing.T) {
	for _, c := range []struct {
		phase Phase
		want  string
	}{
		{PhaseIdle, bridge.StateConnecting},
		{PhaseConnecting, bridge.StateConnecting},
		{PhaseConnected, bridge.StateUp},
		{PhaseWaiting, bridge.StateDown},
		{PhaseStopped, bridge.StateDown},
	} {
		src := &Source{}
		src.setPhase(c.phase, nil)
		if got := bridge.StateOf(src); got != c.want {
			t.Errorf("phase %s: state %q, want %q", c.phase, got, c.want)
		}
		if src.State().Phase != c.phase {
			t.Errorf("State().Phase = %s, want %s", src.State().Phase, c.phase)
		}
	}
}
