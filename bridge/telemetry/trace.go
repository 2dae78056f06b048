package telemetry

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Tracing carries W3C trace context from the partner through JetStream to
// the ERP and records spans for intake, each stage, persistence and
// forwarding. Trace ids are always propagated (a partner's, or a fresh one
// when the partner sent none); spans are exported only when configured.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TraceContext
}

// NewTracing builds the tracer. exporter, when non-nil, replaces the OTLP
// exporter from the config (tests record spans in memory).
func NewTracing(ctx context.Context, cfg config.Tracing, exporter sdktrace.SpanExporter) (*Tracing, error) {
	if exporter == nil && cfg.OTLPEndpoint != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.OTLPEndpoint))
		if err != nil {
			return nil, fmt.Errorf("tracing.otlp_endpoint: %w", err)
		}
		exporter = exp
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName))),
	}
	if exporter != nil {
		ratio := cfg.SampleRatio
		if ratio == 0 {
			ratio = 1
		}
		opts = append(opts, sdktrace.WithBatcher(exporter),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))))
	} else {
		// Nothing to export to: spans still get ids, so trace context
		// flows to the ERP, but none is recorded unless the partner asked.
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return &Tracing{provider: tp, tracer: tp.Tracer("github.com/dmzbridge/dmzbridge")}, nil
}

// Shutdown flushes and stops span export.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }

// headerCarrier reads trace headers case-insensitively: brokers and
// client libraries disagree on header case.
type headerCarrier map[string]string

func (c headerCarrier) Get(key string) string {
	if v, ok := c[key]; ok {
		return v
	}
	for k, v := range c {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) {
	for k := range c {
		if strings.EqualFold(k, key) && k != key {
			delete(c, k)
		}
	}
	c[key] = value
}

func (c headerCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// setEnvAttrs labels a recorded span with the event's identity. The
// attributes are set after Start, and only on spans that are recorded:
// without an exporter (or for an unsampled trace) nearly every span is not,
// and building the attribute list for each of an event's spans was a
// noticeable share of the pipeline's allocations. The samplers in use
// (parent-based, trace-id ratio, never) do not look at start attributes, so
// which spans are recorded does not change.
func setEnvAttrs(span trace.Span, env *bridge.Envelope) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		attribute.String("dmzbridge.partner", env.Partner),
		attribute.String("dmzbridge.connector", env.Source),
		attribute.String("messaging.message.id", env.ID),
	)
}

// persistSlot carries an event's persistence span from the stage that
// starts it to the intake's completion callback that ends it, through the
// Submit context: one small allocation per event instead of an entry in a
// shared map.
type persistSlot struct{ span trace.Span }

type persistSlotKey struct{}

// Source wraps a source so each event's intake is a span, child of the
// partner's traceparent or the root of a new trace, and the event carries
// the span's context onward (into JetStream and to the ERP).
func (t *Tracing) Source(src bridge.Source) bridge.Source { return &tracedSource{Source: src, t: t} }

type tracedSource struct {
	bridge.Source
	t *Tracing
}

func (s *tracedSource) Run(ctx context.Context, in bridge.Intake) error {
	return s.Source.Run(ctx, &tracedIntake{next: in, t: s.t})
}

// State forwards the wrapped source's link state, so wrappers outside this
// one (the rate limit) still see it.
func (s *tracedSource) State() string { return bridge.StateOf(s.Source) }

type tracedIntake struct {
	next bridge.Intake
	t    *Tracing
}

func (i *tracedIntake) Submit(ctx context.Context, env *bridge.Envelope, done func(error)) error {
	if env.Headers == nil {
		env.Headers = map[string]string{}
	}
	t := i.t
	ctx = t.prop.Extract(ctx, headerCarrier(env.Headers))
	ctx, span := t.tracer.Start(ctx, "dmzbridge.intake", trace.WithSpanKind(trace.SpanKindConsumer))
	setEnvAttrs(span, env)
	t.prop.Inject(ctx, headerCarrier(env.Headers))
	slot := &persistSlot{}
	ctx = context.WithValue(ctx, persistSlotKey{}, slot)
	err := i.next.Submit(ctx, env, func(err error) {
		// The persist stage ran (if at all) before the write whose outcome
		// this is, so its span is visible here.
		if slot.span != nil {
			endSpan(slot.span, err)
		}
		endSpan(span, err)
		done(err)
	})
	if err != nil {
		if slot.span != nil {
			endSpan(slot.span, err)
		}
		endSpan(span, err)
	}
	return err
}

func endSpan(s trace.Span, err error) {
	if err != nil {
		s.SetStatus(codes.Error, "not stored")
	}
	s.End()
}

// Stages wraps each stage in a span and appends the persistence span's
// start, which ends when the event's PubAck arrives.
func (t *Tracing) Stages(stages []bridge.Stage) []bridge.Stage {
	out := make([]bridge.Stage, 0, len(stages)+1)
	for _, st := range stages {
		out = append(out, tracedStage{Stage: st, t: t, spanName: "dmzbridge.stage." + st.Name()})
	}
	return append(out, bridge.StageFunc{StageName: "persist-span", Fn: func(ctx context.Context, env *bridge.Envelope) error {
		slot, ok := ctx.Value(persistSlotKey{}).(*persistSlot)
		if !ok || unrecordedParent(ctx) {
			// Not submitted through a traced source (no callback would end
			// the span), or the span would not be recorded.
			return nil
		}
		_, span := t.tracer.Start(ctx, "dmzbridge.persist", trace.WithSpanKind(trace.SpanKindProducer))
		setEnvAttrs(span, env)
		slot.span = span
		return nil
	}})
}

type tracedStage struct {
	bridge.Stage
	t *Tracing
	// spanName is built once, not per event.
	spanName string
}

// unrecordedParent reports whether spans started under ctx cannot be
// recorded: every sampler NewTracing installs is parent-based, so the child
// of a span that is not recording (an unsampled trace, or no exporter and a
// partner that asked for no sampling) is dropped too. Stage and persist
// spans are then skipped, not created only to be thrown away; their
// contexts are never injected anywhere, so what reaches JetStream and the
// ERP is the same.
func unrecordedParent(ctx context.Context) bool {
	return !trace.SpanFromContext(ctx).IsRecording()
}

func (s tracedStage) Process(ctx context.Context, env *bridge.Envelope) error {
	if unrecordedParent(ctx) {
		return s.Stage.Process(ctx, env)
	}
	ctx, span := s.t.tracer.Start(ctx, s.spanName)
	defer span.End()
	setEnvAttrs(span, env)
	err := s.Stage.Process(ctx, env)
	if r, ok := bridge.AsRejection(err); ok {
		// The reason code only: the detail may quote the payload.
		span.SetAttributes(attribute.String("dmzbridge.reason", r.Reason))
		span.SetStatus(codes.Error, r.Reason)
	} else if err != nil {
		span.SetStatus(codes.Error, "stage failed")
	}
	return err
}

// Normalizer makes sure the ERP message carries the event's trace context
// whatever the normalizer put in its headers.
func Normalizer(n bridge.Normalizer) bridge.Normalizer {
	return func(env *bridge.Envelope) (*bridge.ERPMessage, error) {
		m, err := n(env)
		if err != nil || m == nil {
			return m, err
		}
		if tp := env.TraceParent(); tp != "" && headerCarrier(m.Headers).Get(bridge.HeaderTraceParent) == "" {
			if m.Headers == nil {
				m.Headers = map[string]string{}
			}
			m.Headers[bridge.HeaderTraceParent] = tp
			if ts := env.Headers[bridge.HeaderTraceState]; ts != "" {
				m.Headers[bridge.HeaderTraceState] = ts
			}
		}
		return m, nil
	}
}

// Sink wraps the ERP sink: each message's publish is a span, child of the
// event's stored trace context, and the ERP receives that span's context.
func (t *Tracing) Sink(s bridge.Sink) bridge.Sink { return &tracedSink{Sink: s, t: t} }

type tracedSink struct {
	bridge.Sink
	t *Tracing
}

// State is the wrapped sink's own link state when it reports one, else
// derived from Ready(): a sink that cannot say is down when it is not ready.
func (s *tracedSink) State() string {
	if bridge.ReportsState(s.Sink) {
		return bridge.StateOf(s.Sink)
	}
	if s.Sink.Ready() == nil {
		return bridge.StateUp
	}
	return bridge.StateDown
}

func (s *tracedSink) CertFiles() []string {
	if cr, ok := s.Sink.(bridge.CertReporter); ok {
		return cr.CertFiles()
	}
	return nil
}

func (s *tracedSink) Publish(ctx context.Context, batch []*bridge.ERPMessage) []error {
	spans := make([]trace.Span, len(batch))
	out := make([]*bridge.ERPMessage, len(batch))
	for i, m := range batch {
		h := maps.Clone(m.Headers)
		if h == nil {
			h = map[string]string{}
		}
		pctx := s.t.prop.Extract(ctx, headerCarrier(h))
		sctx, span := s.t.tracer.Start(pctx, "dmzbridge.forward", trace.WithSpanKind(trace.SpanKindProducer))
		if span.IsRecording() {
			span.SetAttributes(attribute.String("dmzbridge.partner", m.Partner), attribute.String("messaging.message.id", m.ID))
		}
		s.t.prop.Inject(sctx, headerCarrier(h))
		cp := *m
		cp.Headers = h
		out[i], spans[i] = &cp, span
	}
	errs := s.Sink.Publish(ctx, out)
	for i, span := range spans {
		if errs != nil && errs[i] != nil {
			span.SetStatus(codes.Error, "not confirmed by the ERP")
		}
		span.End()
	}
	return errs
}
