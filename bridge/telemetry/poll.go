package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// CertFile is a certificate file named in the configuration.
type CertFile struct {
	Owner string
	File  string
}

// certKeys are the option keys under a "tls" block that name certificate
// files (keys are deliberately not read).
var certKeys = map[string]bool{"ca": true, "cert": true, "ca_file": true, "cert_file": true}

// ConfigCertFiles finds every certificate file in the configuration: the
// JetStream client TLS block and any "tls" block inside a connector's
// options, whatever the connector, so a new connector is covered without
// code of its own.
func ConfigCertFiles(cfg *config.Config) []CertFile {
	var out []CertFile
	for _, f := range []string{cfg.JetStream.TLS.CA, cfg.JetStream.TLS.Cert} {
		if f != "" {
			out = append(out, CertFile{Owner: "jetstream", File: f})
		}
	}
	out = append(out, nodeCertFiles("erp", &cfg.ERP.Sink.Options, false)...)
	for _, p := range cfg.Partners {
		out = append(out, nodeCertFiles("partner:"+p.Name, &p.Inbound.Options, false)...)
	}
	return out
}

func nodeCertFiles(owner string, n *yaml.Node, underTLS bool) []CertFile {
	var out []CertFile
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			out = append(out, nodeCertFiles(owner, c, underTLS)...)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := strings.ToLower(n.Content[i].Value), n.Content[i+1]
			if underTLS && certKeys[k] && v.Kind == yaml.ScalarNode && v.Value != "" {
				out = append(out, CertFile{Owner: owner, File: v.Value})
				continue
			}
			out = append(out, nodeCertFiles(owner, v, underTLS || k == "tls")...)
		}
	}
	return out
}

// ReadCertExpiry returns the earliest NotAfter among the PEM certificates
// in file.
func ReadCertExpiry(c CertFile) CertExpiry {
	ce := CertExpiry{Owner: c.Owner, File: c.File}
	raw, err := os.ReadFile(c.File)
	if err != nil {
		ce.Err = err.Error()
		return ce
	}
	certs, err := config.PEMCertificates(raw)
	for _, cert := range certs {
		if ce.NotAfter.IsZero() || cert.NotAfter.Before(ce.NotAfter) {
			ce.NotAfter = cert.NotAfter
		}
	}
	if err != nil {
		ce.Err = fmt.Sprintf("parse certificate: %v", err)
		return ce
	}
	if ce.NotAfter.IsZero() {
		ce.Err = "no PEM certificate in file"
	}
	return ce
}

// NamedConnector is a connector whose state is polled.
type NamedConnector struct {
	Partner   string
	Role      string
	Connector string
	// Impl is the source or sink; its state is read when it implements
	// bridge.StateReporter, otherwise it counts as up while the bridge
	// runs (bridge.StateOf). Pass the ERP sink
	// wrapped by Tracing.Sink, which derives a state from Ready().
	Impl any
}

// Poller measures backlog, dead-letter depth, connector states and
// certificate expiry at an interval and hands them to Metrics.
type Poller struct {
	JS         jetstream.JetStream
	Topology   store.Topology
	Partners   []string
	Connectors []NamedConnector
	Certs      []CertFile
	Metrics    *Metrics
	Interval   time.Duration
	Log        *slog.Logger
	// StoreLimit is the server's JetStream storage cap, reported as the
	// account's limit when the account has none of its own (an embedded
	// or unconfigured server); 0 when unknown.
	StoreLimit int64

	lastCount map[string]int64
	lastAt    time.Time

	// targetsMu guards Partners, Connectors and Certs once Run started
	// (a reload replaces them, see SetTargets).
	targetsMu sync.Mutex
}

// SetTargets replaces what is polled, for a reload that adds or removes
// partners.
func (p *Poller) SetTargets(partners []string, conns []NamedConnector, certs []CertFile) {
	p.targetsMu.Lock()
	defer p.targetsMu.Unlock()
	p.Partners, p.Connectors, p.Certs = partners, conns, certs
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	if p.Interval <= 0 {
		p.Interval = 5 * time.Second
	}
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		p.Poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll measures once.
func (p *Poller) Poll(ctx context.Context) {
	p.targetsMu.Lock()
	defer p.targetsMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	now := time.Now()
	g := Gauges{Backlog: map[string]int64{}, DeadLetters: map[string]int64{}, Rate: map[string]float64{},
		OldestAge: map[string]time.Duration{}, At: now}
	prev := p.Metrics.Gauges()
	if p.lastCount == nil {
		p.lastCount = map[string]int64{}
	}
	for _, partner := range p.Partners {
		n := p.Metrics.ReceivedCount(partner)
		if !p.lastAt.IsZero() {
			if secs := now.Sub(p.lastAt).Seconds(); secs > 0 {
				g.Rate[partner] = float64(n-p.lastCount[partner]) / secs
			}
		}
		p.lastCount[partner] = n
	}
	p.lastAt = now
	for _, partner := range p.Partners {
		n, err := p.backlog(ctx, partner)
		if err != nil {
			// Keep the last known value rather than reporting an empty backlog.
			if v, ok := prev.Backlog[partner]; ok {
				g.Backlog[partner] = v
			}
			continue
		}
		g.Backlog[partner] = n
	}
	for _, partner := range p.Partners {
		age, err := p.oldestAge(ctx, partner, now)
		if err != nil {
			if v, ok := prev.OldestAge[partner]; ok {
				g.OldestAge[partner] = v
			}
			continue
		}
		g.OldestAge[partner] = age
	}
	if streams, account, err := p.storeUsage(ctx); err == nil {
		g.Streams, g.Account = streams, account
	} else {
		g.Streams, g.Account = prev.Streams, prev.Account
		if p.Log != nil {
			p.Log.Debug("store usage not measured", "err", err)
		}
	}
	if dl, err := p.deadLetters(ctx); err == nil {
		g.DeadLetters = dl
	} else {
		g.DeadLetters = prev.DeadLetters
		if p.Log != nil {
			p.Log.Debug("dead-letter depth not measured", "err", err)
		}
	}
	for _, c := range p.Connectors {
		g.Connectors = append(g.Connectors, ConnectorState{Partner: c.Partner, Role: c.Role, Connector: c.Connector, State: bridge.StateOf(c.Impl)})
	}
	for _, c := range p.Certs {
		g.Certificates = append(g.Certificates, ReadCertExpiry(c))
	}
	sort.Slice(g.Certificates, func(i, j int) bool { return g.Certificates[i].NotAfter.Before(g.Certificates[j].NotAfter) })
	p.Metrics.SetGauges(g)
}

func (p *Poller) backlog(ctx context.Context, partner string) (int64, error) {
	info, err := p.forwarderInfo(ctx, partner)
	if err != nil {
		return 0, err
	}
	return int64(info.NumPending) + int64(info.NumAckPending), nil
}

// forwarderInfo reads the state of the partner's forwarder consumer.
func (p *Poller) forwarderInfo(ctx context.Context, partner string) (*jetstream.ConsumerInfo, error) {
	cons, err := p.JS.Consumer(ctx, p.Topology.IngestStream(), p.Topology.ForwarderConsumer(partner))
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

func (p *Poller) deadLetters(ctx context.Context) (map[string]int64, error) {
	s, err := p.JS.Stream(ctx, p.Topology.DeadLetterStream())
	if err != nil {
		return nil, err
	}
	prefix := p.Topology.DeadLetterSubject("")
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(p.Partners))
	for _, partner := range p.Partners {
		out[partner] = 0
	}
	for subj, n := range info.State.Subjects {
		out[strings.TrimPrefix(subj, prefix)] += int64(n)
	}
	return out, nil
}
