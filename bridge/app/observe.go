package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/policy"
	"github.com/dmzbridge/dmzbridge/bridge/telemetry"
)

// observability holds what watches the pipeline: the audit trail writer,
// metrics, tracing, the gauge poller and the admin listener. It starts once
// the JetStream connection is up and stops after the pipeline has drained,
// so the last decisions are still recorded.
type observability struct {
	audit      *audit.Writer
	metrics    *telemetry.Metrics
	tracing    *telemetry.Tracing
	admin      *telemetry.Admin
	adminAddr  string
	stopAdmin  func()
	stopPoller context.CancelFunc
	pollerDone chan struct{}
	stopOnce   sync.Once

	// What the poller watches, kept so a reload can add and remove
	// partners: each partner's connectors and certificates, and the ERP's
	// and the config's own.
	poller       *telemetry.Poller
	partnerConns map[string][]telemetry.NamedConnector
	partnerCerts map[string][]telemetry.CertFile
	fixedConns   []telemetry.NamedConnector
	fixedCerts   []telemetry.CertFile
}

// wrapSource decorates a partner's source: trace context and spans around
// its intake, its rate limit outside them (so the intake span shows the
// wait), and registers it and its forwarder with the poller.
func (b *Bridge) wrapSource(p config.Partner, src bridge.Source) bridge.Source {
	o := b.obs
	o.partnerConns[p.Name] = []telemetry.NamedConnector{
		{Partner: p.Name, Role: "inbound", Connector: p.Inbound.Type, Impl: src},
		{Partner: p.Name, Role: telemetry.RoleForwarder, Connector: "jetstream", Impl: b.forwarders.Reporter(p.Name)}}
	o.partnerCerts[p.Name] = reportedCerts("partner:"+p.Name, src)
	partner, connector := p.Name, p.Inbound.Type
	return policy.NewRateLimited(o.tracing.Source(src), p.RateLimit.PerSecond, p.RateLimit.Burst,
		func(*bridge.Envelope) { o.metrics.Throttled(partner, connector) })
}

// targets is what the poller watches for cfg's partners.
func (o *observability) targets(cfg *config.Config) ([]string, []telemetry.NamedConnector, []telemetry.CertFile) {
	partners := make([]string, 0, len(cfg.Partners))
	var conns []telemetry.NamedConnector
	var certs []telemetry.CertFile
	for _, p := range cfg.Partners {
		partners = append(partners, p.Name)
		conns = append(conns, o.partnerConns[p.Name]...)
		certs = append(certs, o.partnerCerts[p.Name]...)
	}
	conns = append(conns, o.fixedConns...)
	certs = append(certs, o.fixedCerts...)
	certs = append(certs, telemetry.ConfigCertFiles(cfg)...)
	return partners, conns, dedupCerts(certs)
}

func (b *Bridge) startObservability(ctx context.Context, opts Options) ([]bridge.Observer, error) {
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

	if o.metrics, err = telemetry.NewMetrics(telemetry.WithEnvironment(b.cfg.Environment),
		telemetry.WithServiceName(b.cfg.Tracing.ServiceName)); err != nil {
		return nil, err
	}
	o.metrics.SetDurability(b.cfg.JetStream.Durability)
	o.metrics.ConfigLoaded()
	if o.tracing, err = telemetry.NewTracing(ctx, b.cfg.Tracing, opts.SpanExporter); err != nil {
		return nil, err
	}

	// Decorate the connectors: trace context and spans around each
	// partner's intake, the partner's rate limit outside it (so the intake
	// span shows the wait), and a forward span around the ERP sink.
	o.partnerConns = map[string][]telemetry.NamedConnector{}
	o.partnerCerts = map[string][]telemetry.CertFile{}
	for _, p := range b.cfg.Partners {
		src, ok := b.sources[p.Name]
		if !ok {
			continue
		}
		b.sources[p.Name] = b.wrapSource(p, src)
	}
	var conns []telemetry.NamedConnector
	var certs []telemetry.CertFile
	// The poller gets the wrapped sink: a sink that reports no state of its
	// own gets one from Ready() there, where the raw sink would always
	// count as up.
	certs = append(certs, reportedCerts("erp", b.sink)...)
	b.sink = o.tracing.Sink(b.sink)
	conns = append(conns, telemetry.NamedConnector{Role: "erp", Connector: b.cfg.ERP.Sink.Type, Impl: b.sink})

	o.fixedConns, o.fixedCerts = conns, certs
	partners, conns, certs := o.targets(b.cfg)
	poller := &telemetry.Poller{JS: b.js, Topology: b.topo, Partners: partners, Connectors: conns,
		Certs: certs, Metrics: o.metrics, Log: b.log}
	o.poller = poller
	if b.embedded != nil {
		poller.StoreLimit = b.embedded.MaxStore()
	}
	poller.Poll(ctx)
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.stopPoller, o.pollerDone = cancel, make(chan struct{})
	go func() { defer close(o.pollerDone); poller.Run(pctx) }()

	o.admin = &telemetry.Admin{Metrics: o.metrics, Log: b.log, Reload: b.Reload, Checks: []telemetry.Check{
		{Name: "jetstream", Fn: func(ctx context.Context) error {
			if st := b.nc.Status(); st != nats.CONNECTED {
				return fmt.Errorf("connection is %v", st)
			}
			_, err := b.js.AccountInfo(ctx)
			return err
		}},
		{Name: "erp", Fn: func(context.Context) error { return b.sink.Ready() }},
		{Name: "forwarders", Fn: func(context.Context) error { return b.forwarders.Err() }},
	}}
	if b.cfg.Admin.Listen != "off" {
		o.adminAddr, o.stopAdmin, err = o.admin.Serve(ctx, b.cfg.Admin.Listen)
		if err != nil {
			// Moving events matters more than being watched: run on, loudly.
			b.log.Error("admin listener not started: no /healthz, /readyz, /metrics", "err", err)
		} else {
			b.log.Info("admin listener", "addr", o.adminAddr)
		}
	}
	return []bridge.Observer{o.metrics, &audit.Observer{W: o.audit, Log: b.log}}, nil
}

// decorate adds spans around every stage and trace context on what the
// ERP receives. It adds no rule: the rules are all in the Chain.
func (b *Bridge) decorate(stages []bridge.Stage, normalize bridge.Normalizer) ([]bridge.Stage, bridge.Normalizer) {
	if b.obs == nil || b.obs.tracing == nil {
		return stages, normalize
	}
	return b.obs.tracing.Stages(stages), telemetry.Normalizer(normalize)
}

func reportedCerts(owner string, impl any) []telemetry.CertFile {
	cr, ok := impl.(bridge.CertReporter)
	if !ok {
		return nil
	}
	var out []telemetry.CertFile
	for _, f := range cr.CertFiles() {
		out = append(out, telemetry.CertFile{Owner: owner, File: f})
	}
	return out
}

func dedupCerts(in []telemetry.CertFile) []telemetry.CertFile {
	seen := map[telemetry.CertFile]bool{}
	var out []telemetry.CertFile
	for _, c := range in {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// stopObservability flushes the audit trail and spans and stops the
// poller and the admin listener; safe to call more than once.
func (b *Bridge) stopObservability() {
	o := b.obs
	if o == nil {
		return
	}
	o.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if o.stopPoller != nil {
			o.stopPoller()
			<-o.pollerDone
		}
		var errs []error
		if o.audit != nil {
			errs = append(errs, o.audit.Close(ctx))
		}
		if o.tracing != nil {
			errs = append(errs, o.tracing.Shutdown(ctx))
		}
		if o.stopAdmin != nil {
			o.stopAdmin()
		}
		if o.metrics != nil {
			errs = append(errs, o.metrics.Shutdown(ctx))
		}
		if err := errors.Join(errs...); err != nil {
			b.log.Error("observability did not stop cleanly; the audit trail may be incomplete", "err", err)
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

// AdminAddr is the admin listener's bound address ("" when not listening).
func (b *Bridge) AdminAddr() string {
	if b.obs == nil {
		return ""
	}
	return b.obs.adminAddr
}

// AdminURL is the admin listener's base URL.
func (b *Bridge) AdminURL() string {
	if a := b.AdminAddr(); a != "" {
		return "http://" + a
	}
	return ""
}
