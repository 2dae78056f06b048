package intake

import (
	"context"
	"fmt"
	"runtime"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// recovered is a stage whose panics become rejections: an event that
// makes a stage panic is dead-lettered as unhandled, and the bridge goes
// on with the next one. No single event may stop a partner's flow.
type recovered struct{ bridge.Stage }

// recoverStage wraps st; a stage already wrapped is returned as it is.
func recoverStage(st bridge.Stage) bridge.Stage {
	if _, ok := st.(recovered); ok {
		return st
	}
	return recovered{st}
}

// RecoverStages wraps every stage of a chain so a panic in one event's
// processing dead-letters that event instead of ending the process.
func RecoverStages(stages []bridge.Stage) []bridge.Stage {
	out := make([]bridge.Stage, len(stages))
	for i, st := range stages {
		out[i] = recoverStage(st)
	}
	return out
}

// Process implements Stage.
func (r recovered) Process(ctx context.Context, env *bridge.Envelope) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = bridge.Reject(bridge.ReasonUnhandled, "stage %s panicked: %s", r.Stage.Name(), panicText(v))
		}
	}()
	return r.Stage.Process(ctx, env)
}

// panicText names a panic without quoting the value a stage panicked
// with, which may hold partner data; the runtime's own errors (index out
// of range, nil dereference) hold none and are kept.
func panicText(v any) string {
	if re, ok := v.(runtime.Error); ok {
		return re.Error()
	}
	return fmt.Sprintf("%T", v)
}
