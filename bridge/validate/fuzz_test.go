package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
	"github.com/dmzbridge/dmzbridge/bridge/mask"
)

var reasons = map[string]bool{
	bridge.ReasonMalformed: true, bridge.ReasonTooLarge: true, bridge.ReasonUnknownType: true,
	bridge.ReasonTypeNotAllowed: true, bridge.ReasonSchemaInvalid: true, bridge.ReasonPartnerMismatch: true,
}

// FuzzValidate runs arbitrary payloads and event types through the stage:
// it must not panic, must answer with a known reason code or accept, must
// leave the original bytes alone, and an accepted payment must come out
// without the values at its masked paths.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(validPayment), "payment.received")
	f.Add([]byte(strings.Replace(validPayment, "DE89370400440532013000", "FR1420041010050500013M02606", 1)), "payment.received")
	f.Add([]byte(strings.Replace(validPayment, `"4111 1111 1111 1111"`, `"5500005555555559"`, 1)), "payment.received.v1")
	f.Add([]byte(validOrder), "order.created")
	f.Add([]byte(`{"payment_id":`), "payment.received")
	f.Add([]byte(`[]`), "payment.received")
	f.Add([]byte(`null`), "")
	f.Add([]byte(`{"a":1e400}`), "payment.received")
	f.Add([]byte("\xff\xfe"), "x")
	st := newStage(f, testConfig(bank()))
	f.Fuzz(func(t *testing.T, payload []byte, eventType string) {
		orig := string(payload)
		env := envelope("bank-a", eventType, orig)
		env.Payload = payload
		err := st.Process(context.Background(), env)
		if string(payload) != orig {
			t.Fatal("original payload modified")
		}
		if err != nil {
			r, ok := bridge.AsRejection(err)
			if !ok || !reasons[r.Reason] {
				t.Fatalf("not a known rejection: %v", err)
			}
			return
		}
		if !json.Valid(env.Payload) {
			t.Fatalf("accepted payload is not JSON: %q", env.Payload)
		}
		var in struct {
			Payer struct{ IBAN, Email, Phone, TaxID string } `json:"payer"`
			Card  struct{ Number string }                    `json:"card"`
		}
		_ = json.Unmarshal(payload, &in)
		for _, secret := range []string{in.Payer.IBAN, in.Payer.Email, in.Payer.Phone, in.Payer.TaxID, in.Card.Number} {
			if len(secret) < 6 || strings.Count(orig, secret) != 1 {
				continue // absent, short or also elsewhere in the event
			}
			if strings.Contains(string(env.Payload), secret) {
				t.Fatalf("masked value %q survives:\n%s", secret, env.Payload)
			}
		}
	})
}

// FuzzStageWaysAgree: an event comes out of the stage as out of the
// reference way (encoding/json's document, the library's verdict, Apply's
// masking): the same verdict, reason and document (the stage keeps the
// partner's member order and spacing). So the fast path and the spliced
// masking never show in what the ERP reads.
func FuzzStageWaysAgree(f *testing.F) {
	for _, s := range shippedSamples() {
		f.Add([]byte(s), "payment.received")
	}
	f.Add([]byte(benchEvent), "payment.received")
	f.Add([]byte(strings.Replace(validPayment, `"Acme GmbH"`, `"Acme \u00fc \"GmbH\" \t"`, 1)), "payment.received")
	f.Add([]byte(strings.Replace(validPayment, `1250.5`, `1e2`, 1)), "payment.received")
	f.Add([]byte(strings.Replace(validPayment, `"EUR"`, `"EUR","currency":"usd"`, 1)), "payment.received")
	st := newStage(f, testConfig(bank()))
	f.Fuzz(func(t *testing.T, payload []byte, eventType string) {
		waysAgree(t, st, "bank-a", eventType, payload)
	})
}

// waysAgree runs payload through the stage and the reference way and
// fails t unless both give the same reason, event type and document.
// compared is false when the stage's reader refuses the payload (the
// reference then has nothing to compare: TestTapeReaderRejects and
// jsontext's fuzzers pin those down); accepted says whether it passed.
func waysAgree(t testing.TB, st *Stage, partner, eventType string, payload []byte) (compared, accepted bool) {
	t.Helper()
	var r jsontext.TapeReader
	if _, err := r.Read(payload); err != nil {
		return false, false
	}
	p := st.partners[partner]
	viaStage := envelope(partner, eventType, string(payload))
	stageErr := st.Process(context.Background(), viaStage)
	viaRef := envelope(partner, eventType, string(payload))
	refErr := reference(st, p, viaRef)
	// Reasons, not messages: the library words one failure in map order.
	if reasonOf(stageErr) != reasonOf(refErr) {
		t.Fatalf("%q: stage %v, reference %v", payload, stageErr, refErr)
	}
	if !sameDocument(viaStage.Payload, viaRef.Payload) || viaStage.EventType != viaRef.EventType {
		t.Fatalf("%q:\nstage     %s (%s)\nreference %s (%s)", payload, viaStage.Payload, viaStage.EventType, viaRef.Payload, viaRef.EventType)
	}
	return true, stageErr == nil
}

// reference is the stage done the slow, obvious way: encoding/json's
// document, the library's verdict on it, Apply's masking.
func reference(st *Stage, p *Partner, env *bridge.Envelope) error {
	doc, err := stdlibDecode(env.Payload)
	if err != nil {
		return bridge.Reject(bridge.ReasonMalformed, "%v", err)
	}
	fieldType := ""
	if p.typeFrom.field != nil {
		v := doc
		for _, k := range p.typeFrom.field {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		fieldType, _ = v.(string)
	}
	sch, err := st.route(p, env, fieldType)
	if err != nil {
		return err
	}
	if err := sch.Validate(doc); err != nil {
		return schemaInvalid(sch, err)
	}
	if p.mask != nil && p.mask.Active(sch.Type) {
		env.Payload = mask.Append(nil, p.mask.(*mask.Policy).Apply(sch.Type, doc))
	}
	return nil
}

// sameDocument says whether a and b are the same JSON document, or the
// same bytes when they are not JSON (a rejected event keeps its payload).
func sameDocument(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	da, errA := stdlibDecode(a)
	db, errB := stdlibDecode(b)
	return errA == nil && errB == nil && reflect.DeepEqual(da, db)
}

func reasonOf(err error) string {
	if err == nil {
		return "accepted"
	}
	if r, ok := bridge.AsRejection(err); ok {
		return r.Reason
	}
	return fmt.Sprint(err)
}

// TestStageWaysAgreeOnMutations is FuzzStageWaysAgree's check over the
// mutations of every shipped sample, compact and indented, for a partner
// whose policy has every action and path shape (wildcards over arrays and
// members, an index, a number, a drop by index last): the spliced masking
// meets every shape of member the schema tests see, and every event comes
// out as the reference way's document.
func TestStageWaysAgreeOnMutations(t *testing.T) {
	all := config.Partner{Name: "all", PartnerChecks: config.PartnerChecks{
		AllowedTypes:    []string{"order.created", "payment.received", "shipment.dispatched", "invoice.issued"},
		MaxMessageBytes: 1 << 16,
		Masking: config.Masking{HashKeyEnv: "K", Policies: []config.MaskPolicy{{
			Fields: []config.MaskField{
				{Path: "lines[*].sku", Action: "keep_last", Keep: 2},
				{Path: "/recipient/address/*", Action: "redact"},
				{Path: "customer.email", Action: "hash"},
				{Path: "/payer/iban", Action: "last4"},
				{Path: "/payer/tax_id", Action: "drop"},
				{Path: "/packages/*/weight_kg", Action: "redact"},
				{Path: "lines[1]", Action: "drop"},
			},
			Detectors: []string{"iban", "card", "email"},
		}}},
	}}
	st := newStage(t, testConfig(all))
	var compared, masked int
	for typ, sample := range shippedSamples() {
		for _, doc := range mutations(decode(t, sample)) {
			compact, _ := json.Marshal(doc)
			indented, _ := json.MarshalIndent(doc, "", "  ")
			for _, payload := range [][]byte{compact, indented} {
				if ok, accepted := waysAgree(t, st, "all", typ, payload); ok {
					compared++
					if accepted {
						masked++
					}
				}
			}
		}
	}
	if compared < 2000 || masked < 400 {
		t.Fatalf("only %d payloads compared, %d of them masked", compared, masked)
	}
	t.Logf("%d payloads compared, %d masked", compared, masked)
}
