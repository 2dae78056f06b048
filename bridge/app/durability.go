package app

import (
	"context"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// checkGroupCommit turns group commit off when the JetStream server cannot
// do atomic batch publish (nats-server before 2.12 drops the stream's
// allow_atomic setting), so an older external server still works, one
// message at a time.
func (b *Bridge) checkGroupCommit(ctx context.Context) {
	js := &b.cfg.JetStream
	if !js.Batch.Enabled(js.Durability) {
		b.log.Info("group commit off: publishing one message at a time", "durability", js.Durability, "batch_mode", js.Batch.Mode)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := b.js.Stream(cctx, b.topo.IngestStream())
	if err == nil && st.CachedInfo().Config.AllowAtomicPublish {
		b.log.Info("group commit on: atomic batch publish", "max_messages", js.Batch.MaxMessages,
			"linger", js.Batch.Linger, "server", b.nc.ConnectedServerVersion())
		return
	}
	b.log.Warn("JetStream server does not support atomic batch publish (needs nats-server 2.12 or later); publishing one message at a time",
		"server", b.nc.ConnectedServerVersion(), "err", err)
	js.Batch.Mode = config.BatchOff
}

// DurabilityLevel is the bridge's durability as a number for a metrics
// gauge (see config.DurabilityLevel).
func (b *Bridge) DurabilityLevel() int { return config.DurabilityLevel(b.cfg.JetStream.Durability) }

// GroupCommit reports whether events are written by atomic batch publish.
func (b *Bridge) GroupCommit() bool {
	return b.cfg.JetStream.Batch.Enabled(b.cfg.JetStream.Durability)
}
