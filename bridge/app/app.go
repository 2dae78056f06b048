// Package app wires a configuration into a running bridge: JetStream,
// streams, connectors and the pipeline. The dmzbridge commands and the
// end-to-end tests both start the bridge through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/forward"
	"github.com/dmzbridge/dmzbridge/bridge/intake"
	"github.com/dmzbridge/dmzbridge/bridge/seal"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Registry returns the connectors linked into the binary (bridge.Default):
// the binary imports the connector packages it ships, and each registers
// itself, so the assembly depends on no connector.
func Registry() *bridge.Registry { return bridge.Default() }

// Check validates a loaded config including every connector's options,
// without connecting to anything.
// cfg may itself be invalid (config.Report keeps what decoded), so a
// connector type left empty is skipped: config already reported it.
func Check(cfg *config.Config, reg *bridge.Registry) error {
	var errs config.FieldErrors
	log := slog.New(slog.DiscardHandler)
	for i, p := range cfg.Partners {
		if p.Inbound.Type == "" {
			continue
		}
		_, err := reg.NewSource("partners["+strconv.Itoa(i)+"].inbound", p.Inbound,
			bridge.SourceSpec{Partner: p.Name, Environment: p.Environment, Logger: log, StoreBatch: storeBatch(cfg)})
		errs.Merge("", err)
	}
	if cfg.ERP.Sink.Type != "" {
		_, err := reg.NewSink("erp", cfg.ERP.Sink, bridge.SinkSpec{Environment: cfg.ERP.Environment, Logger: log})
		errs.Merge("", err)
	}
	_, err := NewChain(cfg)
	errs.Merge("", err)
	return errs.Err()
}

// storeBatch is the most events one group commit stores under cfg, 0
// when events are stored one at a time.
func storeBatch(cfg *config.Config) int {
	if !cfg.JetStream.Batch.Enabled(cfg.JetStream.Durability) {
		return 0
	}
	return cfg.JetStream.Batch.MaxMessages
}

// DescribeSources builds each valid partner's source (without connecting)
// and returns, by partner name, what the sources that implement
// bridge.Describer say of their effective settings.
func DescribeSources(cfg *config.Config, reg *bridge.Registry) map[string]string {
	out := map[string]string{}
	log := slog.New(slog.DiscardHandler)
	for i, p := range cfg.Partners {
		if p.Inbound.Type == "" {
			continue
		}
		src, err := reg.NewSource("partners["+strconv.Itoa(i)+"].inbound", p.Inbound,
			bridge.SourceSpec{Partner: p.Name, Environment: p.Environment, Logger: log, StoreBatch: storeBatch(cfg)})
		if err != nil {
			continue
		}
		if d, ok := src.(bridge.Describer); ok {
			out[p.Name] = d.Describe()
		}
	}
	return out
}

func buildConnectors(cfg *config.Config, reg *bridge.Registry, log *slog.Logger) (map[string]bridge.Source, bridge.Sink, error) {
	var errs config.FieldErrors
	sources := map[string]bridge.Source{}
	for i, p := range cfg.Partners {
		src, err := reg.NewSource("partners["+strconv.Itoa(i)+"].inbound", p.Inbound,
			bridge.SourceSpec{Partner: p.Name, Environment: p.Environment, Logger: log, StoreBatch: storeBatch(cfg)})
		if err != nil {
			errs.Merge("", err)
			continue
		}
		sources[p.Name] = src
	}
	sink, err := reg.NewSink("erp", cfg.ERP.Sink, bridge.SinkSpec{Environment: cfg.ERP.Environment, Logger: log})
	errs.Merge("", err)
	if err := errs.Err(); err != nil {
		return nil, nil, err
	}
	return sources, sink, nil
}

// Options adjust a bridge beyond its config file.
type Options struct {
	Logger    *slog.Logger
	Registry  *bridge.Registry
	Observers []bridge.Observer
	// Stages replaces the Chain built from the config (tests).
	Stages []bridge.Stage
	// SpanExporter receives the bridge's spans instead of the configured
	// OTLP exporter (tests).
	SpanExporter sdktrace.SpanExporter
	// Reload loads and checks the configuration again, as config check
	// does, for a reload (SIGHUP, POST /reload); nil offers no reload.
	Reload func() (*config.Config, error)
}

// Bridge is a configured, connected bridge ready to Run.
type Bridge struct {
	cfg      *config.Config
	log      *slog.Logger
	embedded *store.Embedded
	nc       *nats.Conn
	js       jetstream.JetStream
	sink     bridge.Sink
	sources  map[string]bridge.Source
	pipeline *intake.Pipeline
	topo     store.Topology
	obs      *observability
	// unseal stops sealing this topology's dead-letter entries.
	unseal func()
	dlLog  *bridge.DeadLetterLog
	// forwarders is each partner's forwarder state, for readiness,
	// status and metrics.
	forwarders *forward.States

	reg *bridge.Registry
	// live is the configuration in effect: cfg, or the last reloaded one.
	// Fields a reload cannot change are read from cfg.
	live atomic.Pointer[config.Config]
	// rules are the chain and normalizer each event is judged by; a
	// reload swaps them whole (reload.go).
	rules       atomic.Pointer[ruleSet]
	fixedStages bool
	reload      reloadState
}

// Start connects JetStream (starting the embedded server if configured),
// creates the streams and builds the pipeline. A JetStream server that is
// not reachable yet is retried until ctx ends.
func Start(ctx context.Context, cfg *config.Config, opts Options) (*Bridge, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ApplyMemoryLimit(log)
	reg := opts.Registry
	if reg == nil {
		reg = Registry()
	}
	sources, sink, err := buildConnectors(cfg, reg, log)
	if err != nil {
		return nil, err
	}
	keys, err := seal.Load(cfg.DeadLetter, os.Getenv)
	if err != nil {
		return nil, err
	}
	partners := make([]string, len(cfg.Partners))
	for i, p := range cfg.Partners {
		partners[i] = p.Name
	}
	b := &Bridge{cfg: cfg, log: log, sink: sink, sources: sources, topo: store.NewTopology(cfg.JetStream.StreamPrefix),
		dlLog: bridge.NewDeadLetterLog(log), forwarders: forward.NewStates(partners), reg: reg}
	b.live.Store(cfg)
	b.reload.load = opts.Reload
	if b.reload.schemas, err = schemasDigest(cfg); err != nil {
		return nil, err
	}
	if keys == nil {
		// Config validation refuses this in prod.
		log.Warn("dead-letter entries are stored in clear: no sealing key is configured (dead_letter.seal_key_env or seal_key_file)", "environment", cfg.Environment)
	}
	b.unseal = store.SealDeadLetters(b.topo, keys)
	logDurability(log, cfg.JetStream)
	url := cfg.JetStream.URL
	if cfg.JetStream.Embedded {
		b.embedded, err = store.StartEmbedded(cfg.JetStream, log)
		if err != nil {
			return nil, err
		}
		url = b.embedded.URL()
	}
	if err := b.connect(ctx, url); err != nil {
		b.Close()
		return nil, err
	}
	b.checkGroupCommit(ctx)
	extra, err := b.startObservability(ctx, opts)
	if err != nil {
		b.Close()
		return nil, err
	}
	rules, err := b.buildRules(cfg, opts.Stages)
	if err != nil {
		b.Close()
		return nil, err
	}
	b.fixedStages = opts.Stages != nil
	b.rules.Store(rules)
	b.pipeline, err = intake.New(intake.Options{
		JS: b.js, Topology: b.topo, JetStream: cfg.JetStream, Forward: cfg.Forward,
		Retry:    func(partner string) config.Retry { return b.live.Load().RetryFor(partner) },
		Partners: partners, Stages: []bridge.Stage{currentRules{b}}, Sink: b.sink, Normalize: b.normalize,
		SoleConsumer: cfg.JetStream.Embedded, ShutdownTimeout: cfg.ShutdownTimeout, Forwarders: b.forwarders,
		Observer: bridge.Observers(append(append(extra, b.dlLog), opts.Observers...)), Logger: log,
	})
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bridge) connect(ctx context.Context, url string) error {
	nc, err := store.Connect(ctx, url, "dmzbridge", b.cfg.JetStream, b.log)
	if err != nil {
		return err
	}
	b.nc = nc
	b.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(b.cfg.JetStream.MaxPending),
		// A PubAck lost with a stream leader that died (cluster failover)
		// holds the window until this timeout; the republish that follows
		// carries the same Nats-Msg-Id, so a short timeout costs nothing.
		jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return bridge.Retry(ctx, b.log, "create JetStream streams", func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return b.topo.EnsureStreams(cctx, b.js, b.cfg.JetStream)
	})
}

func logDurability(log *slog.Logger, js config.JetStream) {
	switch js.Durability {
	case config.DurabilityRelaxed:
		log.Warn("durability relaxed: JetStream acknowledges writes before they reach the disk; acknowledged events can be lost to a power loss")
	case config.DurabilityReplicated:
		log.Info("durability replicated: assuming every JetStream node runs with sync_interval: always", "replicas", js.Replicas)
	default:
		log.Info("durability fsync: every event is on disk before it is acknowledged to its partner")
	}
}

// Run serves until ctx ends, then drains and stops.
func (b *Bridge) Run(ctx context.Context) error {
	b.log.Info("dmzbridge running", "environment", b.cfg.Environment, "partners", len(b.sources), "erp", b.cfg.ERP.Sink.Type)
	b.startReloads(ctx)
	err := b.pipeline.Run(ctx, b.sources)
	b.stopReloads()
	b.stopObservability()
	return err
}

// JetStream exposes the bridge's JetStream context (for the CLI and tests).
func (b *Bridge) JetStream() jetstream.JetStream { return b.js }

// Topology exposes the stream names in use.
func (b *Bridge) Topology() store.Topology { return b.topo }

// NATSURL is the JetStream server the bridge uses.
func (b *Bridge) NATSURL() string {
	if b.embedded != nil {
		return b.embedded.URL()
	}
	return b.cfg.JetStream.URL
}

// Close releases connections and stops the embedded server.
func (b *Bridge) Close() error {
	var errs []error
	if b.unseal != nil {
		b.unseal()
	}
	b.dlLog.Flush()
	b.stopObservability()
	if b.sink != nil {
		errs = append(errs, b.sink.Close())
	}
	if b.nc != nil {
		b.nc.Close()
	}
	if b.embedded != nil {
		b.embedded.Shutdown()
	}
	return errors.Join(errs...)
}
