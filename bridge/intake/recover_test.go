package intake

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
)

func TestRecover(t *testing.T) {
	transient := errors.New("registry down")
	var nilMap map[string]int
	tests := []struct {
		name       string
		fn         func(context.Context, *bridge.Envelope) error
		wantReason string // "" when no rejection is expected
		wantErr    error
		detail     string // the detail must contain this
		notDetail  string // and must not contain this
	}{
		{name: "passes", fn: func(context.Context, *bridge.Envelope) error { return nil }},
		{name: "transient error kept", fn: func(context.Context, *bridge.Envelope) error { return transient }, wantErr: transient},
		{name: "rejection kept", fn: func(context.Context, *bridge.Envelope) error { return bridge.Reject(bridge.ReasonSchemaInvalid, "x") },
			wantReason: bridge.ReasonSchemaInvalid},
		{name: "runtime error", fn: func(_ context.Context, e *bridge.Envelope) error { _ = e.Payload[len(e.Payload)+1]; return nil },
			wantReason: bridge.ReasonUnhandled, detail: "stage s panicked: runtime error: index out of range"},
		{name: "nil map write", fn: func(context.Context, *bridge.Envelope) error { nilMap["k"] = 1; return nil },
			wantReason: bridge.ReasonUnhandled, detail: "assignment to entry in nil map"},
		{name: "partner data in the panic value is not quoted", fn: func(_ context.Context, e *bridge.Envelope) error { panic("bad iban " + string(e.Payload)) },
			wantReason: bridge.ReasonUnhandled, detail: "panicked: string", notDetail: "DE89"},
		{name: "error value", fn: func(context.Context, *bridge.Envelope) error { panic(errors.New("secret DE89")) },
			wantReason: bridge.ReasonUnhandled, detail: "*errors.errorString", notDetail: "DE89"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := recoverStage(bridge.StageFunc{StageName: "s", Fn: tc.fn})
			if st.Name() != "s" {
				t.Fatalf("name %q", st.Name())
			}
			err := st.Process(context.Background(), &bridge.Envelope{Payload: []byte("DE89370400440532013000")})
			r, isRej := bridge.AsRejection(err)
			switch {
			case tc.wantReason != "":
				if !isRej || r.Reason != tc.wantReason {
					t.Fatalf("err %v, want rejection %s", err, tc.wantReason)
				}
				if !strings.Contains(r.Detail, tc.detail) || (tc.notDetail != "" && strings.Contains(r.Detail, tc.notDetail)) {
					t.Fatalf("detail %q: want %q, not %q", r.Detail, tc.detail, tc.notDetail)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) || isRej {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("err %v, want nil", err)
			}
		})
	}
}

func TestRecoverWrapsOnce(t *testing.T) {
	st := recoverStage(bridge.StageFunc{StageName: "s", Fn: func(context.Context, *bridge.Envelope) error { return nil }})
	again, ok := recoverStage(st).(recovered)
	if !ok {
		t.Fatal("Recover did not return a recovered stage")
	}
	if _, nested := again.Stage.(recovered); nested {
		t.Fatal("a recovered stage is wrapped again")
	}
}

// TestPanickingStageDoesNotStopTheFlow: the event that makes a stage
// panic is dead-lettered as unhandled and acknowledged; the next event of
// the same partner is stored as usual.
func TestPanickingStageDoesNotStopTheFlow(t *testing.T) {
	stage := bridge.StageFunc{StageName: "check", Fn: func(_ context.Context, e *bridge.Envelope) error {
		if string(e.Payload) == "boom" {
			var m map[string]int
			m["x"]++
		}
		return nil
	}}
	p, js, topo, counters := testPipeline(t, &recordingSink{}, stage)
	if err := submitAndWait(t, p, &bridge.Envelope{ID: "p-1", Partner: "bank-a", Source: "test", Payload: []byte("boom")}); err != nil {
		t.Fatalf("panicking event: done(%v), want nil (dead-lettered)", err)
	}
	if err := submitAndWait(t, p, &bridge.Envelope{ID: "ok-1", Partner: "bank-a", Source: "test", Payload: []byte("fine")}); err != nil {
		t.Fatalf("next event: done(%v)", err)
	}
	ctx := context.Background()
	dlq, err := js.Stream(ctx, topo.DeadLetterStream())
	if err != nil {
		t.Fatal(err)
	}
	dl, err := dlq.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if dl.Header.Get(bridge.HeaderReason) != bridge.ReasonUnhandled || dl.Header.Get(bridge.HeaderOriginalID) != "p-1" || string(dl.Data) != "boom" {
		t.Fatalf("dead-letter entry: reason %q id %q data %q", dl.Header.Get(bridge.HeaderReason), dl.Header.Get(bridge.HeaderOriginalID), dl.Data)
	}
	if n := ingestMsgs(t, js, topo); n != 1 {
		t.Fatalf("ingest holds %d, want the one good event", n)
	}
	if tot := counters.Total(); tot.Stored != 1 || tot.DeadLettered != 1 {
		t.Fatalf("counters %+v", tot)
	}
}
