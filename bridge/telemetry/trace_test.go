package telemetry

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// stageIntake stands in for the pipeline: it runs the stages and reports
// the event stored.
type stageIntake struct{ stages []bridge.Stage }

func (i stageIntake) Submit(ctx context.Context, env *bridge.Envelope, done func(error)) error {
	for _, st := range i.stages {
		if err := st.Process(ctx, env); err != nil {
			done(err)
			return nil
		}
	}
	done(nil)
	return nil
}

func submitTraced(t *testing.T, tr *Tracing, env *bridge.Envelope) (ran bool) {
	t.Helper()
	stages := tr.Stages([]bridge.Stage{bridge.StageFunc{StageName: "check", Fn: func(context.Context, *bridge.Envelope) error {
		ran = true
		return nil
	}}})
	in := &tracedIntake{next: stageIntake{stages}, t: tr}
	var outcome error = errNotCalled
	if err := in.Submit(t.Context(), env, func(err error) { outcome = err }); err != nil {
		t.Fatal(err)
	}
	if outcome != nil {
		t.Fatalf("done: %v", outcome)
	}
	return ran
}

var errNotCalled = errors.New("done not called")

// With an exporter every event has its intake, stage and persist spans,
// labelled with the event's identity, stage and persist spans children of
// the intake span, whose context the stored event carries.
func TestTracingRecordsIntakeStageAndPersistSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := NewTracing(t.Context(), config.Tracing{ServiceName: "test"}, exp)
	if err != nil {
		t.Fatal(err)
	}
	env := &bridge.Envelope{Partner: "p1", Source: "nats", ID: "m-1", Headers: map[string]string{}}
	if !submitTraced(t, tr, env) {
		t.Fatal("stage did not run")
	}
	if err := tr.provider.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = s
	}
	intake, ok := byName["dmzbridge.intake"]
	if !ok {
		t.Fatalf("no intake span among %v", exp.GetSpans())
	}
	for _, name := range []string{"dmzbridge.intake", "dmzbridge.stage.check", "dmzbridge.persist"} {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no %s span", name)
		}
		attrs := map[string]string{}
		for _, a := range s.Attributes {
			attrs[string(a.Key)] = a.Value.AsString()
		}
		if attrs["dmzbridge.partner"] != "p1" || attrs["dmzbridge.connector"] != "nats" || attrs["messaging.message.id"] != "m-1" {
			t.Errorf("%s attributes %v", name, attrs)
		}
		if name != "dmzbridge.intake" && s.Parent.SpanID() != intake.SpanContext.SpanID() {
			t.Errorf("%s parent %v, want the intake span %v", name, s.Parent.SpanID(), intake.SpanContext.SpanID())
		}
	}
	tp := env.Headers[bridge.HeaderTraceParent]
	if !strings.Contains(tp, intake.SpanContext.TraceID().String()) || !strings.Contains(tp, intake.SpanContext.SpanID().String()) {
		t.Errorf("stored traceparent %q does not name the intake span %v", tp, intake.SpanContext)
	}
}

// Without an exporter nothing is recorded, but the event still gets a
// trace context to carry to the ERP, and a partner's trace id is kept.
func TestTracingWithoutExporterStillPropagates(t *testing.T) {
	tr, err := NewTracing(t.Context(), config.Tracing{ServiceName: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &bridge.Envelope{Partner: "p1", Source: "nats", ID: "m-1", Headers: map[string]string{}}
	if !submitTraced(t, tr, env) {
		t.Fatal("stage did not run")
	}
	if tp := env.Headers[bridge.HeaderTraceParent]; len(tp) != 55 {
		t.Errorf("traceparent %q, want a fresh W3C trace context", tp)
	}
	const partnerTrace = "0af7651916cd43dd8448eb211c80319c"
	env = &bridge.Envelope{Partner: "p1", Source: "nats", ID: "m-2",
		Headers: map[string]string{bridge.HeaderTraceParent: "00-" + partnerTrace + "-b7ad6b7169203331-00"}}
	if !submitTraced(t, tr, env) {
		t.Fatal("stage did not run")
	}
	if tp := env.Headers[bridge.HeaderTraceParent]; !strings.Contains(tp, partnerTrace) || strings.Contains(tp, "b7ad6b7169203331") {
		t.Errorf("traceparent %q, want the partner's trace with the intake span as parent", tp)
	}
}
