package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
)

// observability holds what watches the pipeline: the audit trail writer,
// metrics and the admin listener. It is started once the JetStream
// connection is up and stopped after the pipeline has drained, so the
// last decisions are still recorded.
type observability struct {
	audit    *audit.Writer
	stopOnce sync.Once
}

func (b *Bridge) startObservability(ctx context.Context) ([]bridge.Observer, error) {
	o := &observability{}
	b.obs = o
	err := bridge.Retry(ctx, b.log, "create audit stream", func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return audit.EnsureStream(cctx, b.js, b.topo, b.cfg.JetStream, b.cfg.JetStream.Audit)
	})
	if err != nil {
		return nil, err
	}
	// The audit writer gets its own async window so audit batches never
	// compete with partner events for the ingest writer's.
	ajs, err := jetstream.New(b.nc, jetstream.WithPublishAsyncMaxPending(256),
		// A PubAck lost with a JetStream leader that died must end in an
		// error (and a republish), not wait forever.
		jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("jetstream for audit: %w", err)
	}
	o.audit = audit.NewWriter(ajs, b.topo, audit.WriterOptions{Logger: b.log.With("component", "audit")})
	return []bridge.Observer{&audit.Observer{W: o.audit, Log: b.log}}, nil
}

// stopObservability flushes the audit trail; safe to call more than once.
func (b *Bridge) stopObservability() {
	o := b.obs
	if o == nil {
		return
	}
	o.stopOnce.Do(func() {
		if o.audit != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := o.audit.Close(ctx); err != nil {
				b.log.Error("audit trail incomplete", "err", err)
			}
		}
	})
}

// AuditWriter is the bridge's audit trail writer (for tests and the CLI).
func (b *Bridge) AuditWriter() *audit.Writer {
	if b.obs == nil {
		return nil
	}
	return b.obs.audit
}
