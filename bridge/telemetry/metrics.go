// Package telemetry turns the pipeline's decisions into OpenTelemetry
// metrics (served for Prometheus) and traces. Labels carry identities and
// reason codes only, never payload values.
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// maxEventTypes caps the event_type label's values: event types come from
// partners, and an unbounded label would let one partner blow up the
// metrics store. Types past the cap are counted as "other".
const maxEventTypes = 64

// Metrics is a bridge.Observer that records OpenTelemetry instruments and
// serves them in the Prometheus format.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry

	received, stored, forwarded, deadLettered, retried, throttled metric.Int64Counter
	latency                                                       metric.Float64Histogram

	mu         sync.Mutex
	eventTypes map[string]struct{}
	gauges     Gauges
	// durability is the JetStream durability mode (config.Durability*),
	// empty until SetDurability: no series rather than a made-up level.
	durability string
	// receivedBy counts per partner for the recent rate in status.
	receivedBy sync.Map // partner -> *atomic.Int64
	// labelSets caches the counters' attribute sets (see cachedAttrs).
	labelSets sync.Map // labelKey -> metric.MeasurementOption
	// reload holds the reload instruments and the last outcome (reload.go).
	reload reloads
}

// Gauges are the values a poller measures outside the message flow.
type Gauges struct {
	// Backlog is per partner: stored events not yet confirmed by the ERP.
	Backlog map[string]int64
	// DeadLetters is per partner: entries in the dead-letter stream.
	DeadLetters map[string]int64
	// Connectors is one entry per connector with its state.
	Connectors []ConnectorState
	// Certificates is one entry per certificate file.
	Certificates []CertExpiry
	// Rate is per partner: events received per second since the last poll.
	Rate map[string]float64
	// OldestAge is per partner: how long the oldest event not yet
	// confirmed by the ERP has been stored (0 when the backlog is empty).
	OldestAge map[string]time.Duration
	// Streams is the storage used by the bridge's streams (ingest and
	// dead-letter) against their max_bytes.
	Streams []StreamUsage
	// Account is the JetStream account's storage; nil when not measured.
	Account *AccountUsage
	// At is when the values were measured.
	At time.Time
}

// ConnectorState is one connector's link state.
type ConnectorState struct {
	Partner   string `json:"partner"` // empty for the ERP sink
	Role      string `json:"role"`    // "inbound" or "erp"
	Connector string `json:"connector"`
	State     string `json:"state"`
}

// StreamUsage is one stream's storage.
type StreamUsage struct {
	Stream string `json:"stream"`
	Bytes  uint64 `json:"bytes"`
	// MaxBytes is the stream's limit; 0 or less means unlimited.
	MaxBytes int64 `json:"max_bytes"`
}

// AccountUsage is the JetStream account's file storage.
type AccountUsage struct {
	Bytes uint64 `json:"bytes"`
	// Limit is the account's storage limit; 0 or less means none is set.
	Limit int64 `json:"limit"`
}

// CertExpiry is a certificate file's earliest NotAfter.
type CertExpiry struct {
	Owner    string    `json:"owner"` // "jetstream", "erp" or "partner:<name>"
	File     string    `json:"file"`
	NotAfter time.Time `json:"not_after"`
	Err      string    `json:"error,omitempty"`
}

// MetricsOption configures NewMetrics.
type MetricsOption func(*metricsConfig)

type metricsConfig struct {
	service, environment string
}

// WithEnvironment puts an environment label (the config's environment,
// e.g. prod or test) on every series, so one Prometheus can hold test and
// production bridges and every alert and dashboard can tell them apart.
func WithEnvironment(env string) MetricsOption {
	return func(c *metricsConfig) { c.environment = env }
}

// WithServiceName sets the resource's service.name (target_info's
// service_name); the default is "dmzbridge".
func WithServiceName(name string) MetricsOption {
	return func(c *metricsConfig) {
		if name != "" {
			c.service = name
		}
	}
}

// NewMetrics builds the instruments on a registry of its own, with the Go
// runtime and process collectors (memory, goroutines, file descriptors).
func NewMetrics(opts ...MetricsOption) (*Metrics, error) {
	cfg := metricsConfig{service: "dmzbridge"}
	for _, o := range opts {
		o(&cfg)
	}
	reg := prometheus.NewRegistry()
	// Wrapping the registerer labels every series, the bridge's own and
	// the runtime's alike, where a resource label would reach only the
	// OpenTelemetry ones.
	var r prometheus.Registerer = reg
	attrs := []attribute.KeyValue{semconv.ServiceName(cfg.service)}
	if cfg.environment != "" {
		r = prometheus.WrapRegistererWith(prometheus.Labels{"environment": cfg.environment}, reg)
		attrs = append(attrs, semconv.DeploymentEnvironmentName(cfg.environment))
	}
	if err := r.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("go collector: %w", err)
	}
	if err := r.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("process collector: %w", err)
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(r), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(resource.NewSchemaless(attrs...)),
		sdkmetric.WithReader(exp),
		// Latency buckets from 1 ms to ~2 min, dense where the bridge lives.
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Name: "dmzbridge.end_to_end.latency"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{
				Boundaries: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
			}},
		)),
	)
	m := &Metrics{provider: provider, registry: reg, eventTypes: map[string]struct{}{}}
	meter := provider.Meter("github.com/dmzbridge/dmzbridge")
	counters := []struct {
		dst  *metric.Int64Counter
		name string
		desc string
	}{
		{&m.received, "dmzbridge.messages.received", "Partner events taken in by an inbound connector."},
		{&m.stored, "dmzbridge.messages.stored", "Events stored in the ingest stream as forwardable."},
		{&m.forwarded, "dmzbridge.messages.forwarded", "Events confirmed by the ERP sink."},
		{&m.deadLettered, "dmzbridge.messages.dead_lettered", "Events stored in the dead-letter stream, by reason."},
		{&m.retried, "dmzbridge.messages.retried", "Forwarding attempts the ERP sink did not confirm; the event is retried."},
		{&m.throttled, "dmzbridge.intake.throttled", "Events whose intake waited for the partner's rate limit."},
	}
	for _, c := range counters {
		if *c.dst, err = meter.Int64Counter(c.name, metric.WithDescription(c.desc)); err != nil {
			return nil, fmt.Errorf("counter %s: %w", c.name, err)
		}
	}
	if m.latency, err = meter.Float64Histogram("dmzbridge.end_to_end.latency", metric.WithUnit("s"),
		metric.WithDescription("Time from receipt to the ERP's confirmation.")); err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	if err := m.registerGauges(meter); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) registerGauges(meter metric.Meter) error {
	gb := gauges{meter: meter}
	backlog := gb.int64("dmzbridge.ingest.backlog", "",
		"Stored events not yet confirmed by the ERP, per partner.")
	dlq := gb.int64("dmzbridge.dead_letter.depth", "",
		"Entries in the dead-letter stream, per partner.")
	up := gb.int64("dmzbridge.connector.up", "",
		"1 when the connector's link is up, else 0.")
	certs := gb.float64("dmzbridge.certificate.expiry.timestamp", "s",
		"NotAfter of the earliest-expiring certificate in each configured file, as a Unix time.")
	// A gauge rather than a log line: an alert on level < 1 catches a
	// bridge deployed with relaxed durability, which loses acknowledged
	// events to a power cut.
	durability := gb.int64("dmzbridge.durability.level", "",
		"JetStream durability mode: 0 relaxed, 1 fsync, 2 replicated (label mode).")
	oldest := gb.float64("dmzbridge.ingest.oldest.age", "s",
		"Age of the oldest stored event not yet confirmed by the ERP, per partner; 0 when none waits.")
	streamUsed := gb.int64("dmzbridge.jetstream.stream.used", "By",
		"Bytes stored in the bridge's ingest and dead-letter streams.")
	streamLimit := gb.int64("dmzbridge.jetstream.stream.limit", "By",
		"The stream's max_bytes; no series when the stream is unlimited.")
	accountUsed := gb.int64("dmzbridge.jetstream.account.used", "By",
		"File storage the JetStream account uses, all streams together.")
	accountLimit := gb.int64("dmzbridge.jetstream.account.limit", "By",
		"The JetStream account's file storage limit; no series when the account has none.")
	if gb.err != nil {
		return gb.err
	}
	_, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if mode := m.Durability(); mode != "" {
			o.ObserveInt64(durability, int64(config.DurabilityLevel(mode)), metric.WithAttributes(attribute.String("mode", mode)))
		}
		g := m.Gauges()
		for p, n := range g.Backlog {
			o.ObserveInt64(backlog, n, metric.WithAttributes(attribute.String("partner", p)))
		}
		for p, n := range g.DeadLetters {
			o.ObserveInt64(dlq, n, metric.WithAttributes(attribute.String("partner", p)))
		}
		for _, c := range g.Connectors {
			v := int64(0)
			if c.State == bridge.StateUp {
				v = 1
			}
			o.ObserveInt64(up, v, metric.WithAttributes(attribute.String("partner", c.Partner),
				attribute.String("role", c.Role), attribute.String("connector", c.Connector)))
		}
		for p, d := range g.OldestAge {
			o.ObserveFloat64(oldest, d.Seconds(), metric.WithAttributes(attribute.String("partner", p)))
		}
		for _, s := range g.Streams {
			a := metric.WithAttributes(attribute.String("stream", s.Stream))
			o.ObserveInt64(streamUsed, int64(s.Bytes), a)
			if s.MaxBytes > 0 {
				o.ObserveInt64(streamLimit, s.MaxBytes, a)
			}
		}
		if a := g.Account; a != nil {
			o.ObserveInt64(accountUsed, int64(a.Bytes))
			if a.Limit > 0 {
				o.ObserveInt64(accountLimit, a.Limit)
			}
		}
		for _, c := range g.Certificates {
			// A file that cannot be read or parsed reports 0, the Unix epoch:
			// the usual "expires within 14 days" alert fires for it instead
			// of the series silently disappearing.
			notAfter := float64(0)
			if c.Err == "" {
				notAfter = float64(c.NotAfter.Unix())
			}
			o.ObserveFloat64(certs, notAfter, metric.WithAttributes(
				attribute.String("owner", c.Owner), attribute.String("file", c.File)))
		}
		return nil
	}, backlog, dlq, up, certs, durability, oldest, streamUsed, streamLimit, accountUsed, accountLimit)
	if err != nil {
		return fmt.Errorf("gauge callback: %w", err)
	}
	return nil
}

// SetGauges replaces the polled values.
func (m *Metrics) SetGauges(g Gauges) {
	m.mu.Lock()
	m.gauges = g
	m.mu.Unlock()
}

// Gauges returns the last polled values.
func (m *Metrics) Gauges() Gauges {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gauges
}

// SetDurability records the bridge's durability mode for the
// dmzbridge.durability.level gauge and /status.
func (m *Metrics) SetDurability(mode string) {
	m.mu.Lock()
	m.durability = mode
	m.mu.Unlock()
}

// Durability is the mode given to SetDurability ("" when none was).
func (m *Metrics) Durability() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.durability
}

// ReceivedCount is how many events a partner sent since start.
func (m *Metrics) ReceivedCount(partner string) int64 {
	if c, ok := m.receivedBy.Load(partner); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Shutdown stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }

// Throttled counts an event whose intake waited for the rate limit.
func (m *Metrics) Throttled(partner, connector string) {
	m.throttled.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("partner", partner), attribute.String("connector", connector)))
}

func (m *Metrics) eventType(t string) string {
	if t == "" {
		return "unknown"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.eventTypes[t]; ok {
		return t
	}
	if len(m.eventTypes) >= maxEventTypes {
		return "other"
	}
	m.eventTypes[t] = struct{}{}
	return t
}

func (m *Metrics) attrs(env *bridge.Envelope, extra ...attribute.KeyValue) metric.MeasurementOption {
	if len(extra) == 0 {
		return m.cachedAttrs(env)
	}
	kv := append([]attribute.KeyValue{
		attribute.String("partner", env.Partner),
		attribute.String("connector", env.Source),
		attribute.String("event_type", m.eventType(env.EventType)),
	}, extra...)
	return metric.WithAttributes(kv...)
}

// labelKey identifies one label set of the per-event counters.
type labelKey struct{ partner, connector, eventType string }

// cachedAttrs returns the label set of env's counters, built once per
// distinct set: building an attribute set sorts and allocates, and the
// counters are updated several times per event. The sets are bounded by
// partners × connectors × the capped event types.
func (m *Metrics) cachedAttrs(env *bridge.Envelope) metric.MeasurementOption {
	k := labelKey{env.Partner, env.Source, m.eventType(env.EventType)}
	if o, ok := m.labelSets.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	set := attribute.NewSet(attribute.String("partner", k.partner), attribute.String("connector", k.connector),
		attribute.String("event_type", k.eventType))
	o, _ := m.labelSets.LoadOrStore(k, metric.WithAttributeSet(set))
	return o.(metric.MeasurementOption)
}

// Received implements bridge.Observer.
func (m *Metrics) Received(env *bridge.Envelope) {
	c, ok := m.receivedBy.Load(env.Partner)
	if !ok {
		c, _ = m.receivedBy.LoadOrStore(env.Partner, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
	m.received.Add(context.Background(), 1, m.attrs(env))
}

// Stored implements bridge.Observer.
func (m *Metrics) Stored(env *bridge.Envelope) {
	m.stored.Add(context.Background(), 1, m.attrs(env))
}

// DeadLettered implements bridge.Observer.
func (m *Metrics) DeadLettered(env *bridge.Envelope, r *bridge.Rejection) {
	m.deadLettered.Add(context.Background(), 1, m.attrs(env, attribute.String("reason", r.Reason)))
}

// Forwarded implements bridge.Observer.
func (m *Metrics) Forwarded(env *bridge.Envelope, latency time.Duration) {
	ctx := context.Background()
	a := m.attrs(env)
	m.forwarded.Add(ctx, 1, a)
	m.latency.Record(ctx, latency.Seconds(), a)
}

// ForwardFailed implements bridge.Observer.
func (m *Metrics) ForwardFailed(env *bridge.Envelope, _ error) {
	m.retried.Add(context.Background(), 1, m.attrs(env))
}

// gauges creates observable gauges and keeps the first error, so that
// registerGauges reads as a list of names and descriptions.
type gauges struct {
	meter metric.Meter
	err   error
}

func (g *gauges) int64(name, unit, desc string) metric.Int64ObservableGauge {
	opts := []metric.Int64ObservableGaugeOption{metric.WithDescription(desc)}
	if unit != "" {
		opts = append(opts, metric.WithUnit(unit))
	}
	x, err := g.meter.Int64ObservableGauge(name, opts...)
	g.keep(err)
	return x
}

func (g *gauges) float64(name, unit, desc string) metric.Float64ObservableGauge {
	opts := []metric.Float64ObservableGaugeOption{metric.WithDescription(desc)}
	if unit != "" {
		opts = append(opts, metric.WithUnit(unit))
	}
	x, err := g.meter.Float64ObservableGauge(name, opts...)
	g.keep(err)
	return x
}

func (g *gauges) keep(err error) {
	if err != nil && g.err == nil {
		g.err = fmt.Errorf("gauge: %w", err)
	}
}
