package integration_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// TestShutdownWithStuckStage: SIGTERM while a stage holds an event and
// ignores its context. The bridge stops within shutdown_timeout (plus the
// bounded audit flush), the held event was not acknowledged, and a
// restarted bridge gets it again from the partner's broker and forwards it.
func TestShutdownWithStuckStage(t *testing.T) {
	block, send := partnerNATS(t, "bank-a", "SD_BANK", "sd.bank.>")
	block += "\n        ack_wait: 2s"
	erp := natsERP(t)
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erp.yaml, block) + "shutdown_timeout: 2s\n"

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	stuck := bridge.StageFunc{StageName: "stuck", Fn: func(_ context.Context, env *bridge.Envelope) error {
		if string(env.Payload) == `{"stuck":true}` {
			close(entered)
			<-release // ignores its context
		}
		return nil
	}}
	rb := startBridge(t, yaml, app.Options{Stages: []bridge.Stage{stuck}})
	send("before", nil, `{"ok":true}`)
	eventually(t, 30*time.Second, "the first event at the ERP", func() (bool, string) { return erp.collect.has("before"), "" })
	send("held", nil, `{"stuck":true}`)
	<-entered

	start := time.Now()
	rb.stop()
	select {
	case <-rb.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the bridge did not stop with a stage stuck")
	}
	rb.stop = nil
	rb.b.Close()
	// The pipeline's part is bounded by shutdown_timeout; the audit and
	// trace flush that follows has its own 15 s bound.
	took := time.Since(start)
	t.Logf("shutdown with a stuck stage took %v (shutdown_timeout 2s)", took)
	if took > 2*time.Second+15*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	if erp.collect.has("held") {
		t.Fatal("the held event reached the ERP")
	}

	// The stage is released only now: what it does after the shutdown must
	// not count. A new bridge gets the event again and forwards it.
	once.Do(func() { close(release) })
	startBridge(t, yaml, app.Options{})
	eventually(t, 60*time.Second, "the held event at the ERP after a restart", func() (bool, string) { return erp.collect.has("held"), "" })
}
