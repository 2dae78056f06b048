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
)

var reasons = map[string]bool{
	bridge.ReasonMalformed: true, bridge.ReasonTooLarge: true, bridge.ReasonUnknownType: true,
	bridge.ReasonTypeNotAllowed: true, bridge.ReasonSchemaInvalid: true,
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

// FuzzStageWaysAgree: an event the tape reader reads comes out of the
// tape way as out of the decoded way, the reference: the same verdict,
// reason and document (the tape way keeps the partner's member order and
// spacing, the decoded way writes members sorted and compact). So which
// way an event takes never shows in what the ERP reads.
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

// waysAgree runs payload through the tape way and the decoded way and
// fails t unless both give the same reason, event type and document.
// compared is false when the tape reader leaves the payload to the
// decoded way alone; accepted says whether the event passed.
func waysAgree(t testing.TB, st *Stage, partner, eventType string, payload []byte) (compared, accepted bool) {
	t.Helper()
	var r jsontext.TapeReader
	tp := r.Read(payload)
	if tp == nil {
		return false, false
	}
	p := st.partners[partner]
	viaTree := envelope(partner, eventType, string(payload))
	treeErr := st.processTree(p, viaTree, tp, &work{})
	viaDecode := envelope(partner, eventType, string(payload))
	decodeErr := st.processDecoded(p, viaDecode)
	// Reasons, not messages: the library words one failure in map order.
	if reasonOf(treeErr) != reasonOf(decodeErr) {
		t.Fatalf("%q: tape way %v, decoded way %v", payload, treeErr, decodeErr)
	}
	if !sameDocument(viaTree.Payload, viaDecode.Payload) || viaTree.EventType != viaDecode.EventType {
		t.Fatalf("%q:\ntape way    %s (%s)\ndecoded way %s (%s)", payload, viaTree.Payload, viaTree.EventType, viaDecode.Payload, viaDecode.EventType)
	}
	return true, treeErr == nil
}

// sameDocument says whether a and b are the same JSON document, or the
// same bytes when they are not JSON (a rejected event keeps its payload).
func sameDocument(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	da, errA := Decode(a)
	db, errB := Decode(b)
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

// FuzzTapeMatchesDecode: what the tape reader reads is the document
// Decode reads; what it leaves alone, Decode decides.
func FuzzTapeMatchesDecode(f *testing.F) {
	for _, s := range shippedSamples() {
		f.Add([]byte(s))
	}
	for _, s := range []string{`{"a":1e400}`, `"bad \xff utf8"`, `{"a":"\ud800"}`, `{"a":"\ud83d\ude00"}`, `[1, 2] x`, `{"a":1,}`,
		` null `, `{"a":{"a":1},"a":2}`, "", `{"k":"\u0000"}`, `{"k":"a` + "\x01" + `"}`, `[01]`, `[1.]`, `[-]`, `[NaN]`, `[1e5,-0.5E-3]`,
		`{"\u0061":1,"a":2}`, `"\/\b\f\n\r\t\"\\"`, `{"x":"\q"}`, `[true,false,null]`, "[1,\v2]", `[1 2]`, `{"a" 1}`, `{"a":1 "b":2}`,
		`[,1]`, `[1,]`, `{,}`, `{"a":}`, `[[]]]`, `[[[]]`, `{"a":[{"b":{}}],"c":"d"}`, "\t[ 1 ,\n{ \"a\" : \"\\u00e9\" } ]\r\n", `tru`, `nul`, `-`, `0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var r jsontext.TapeReader
		tp := r.Read(payload)
		if tp == nil {
			return
		}
		want, err := Decode(payload)
		if err != nil {
			t.Fatalf("%q: the tape reader reads what Decode rejects: %v", payload, err)
		}
		if got := tapeToAny(tp, 0); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: tape %#v, Decode %#v", payload, got, want)
		}
	})
}

// tapeToAny is the value at i as Decode would give it.
func tapeToAny(t *jsontext.Tape, i int) any {
	switch t.Kind(i) {
	case jsontext.KindObject:
		m := map[string]any{}
		for j := i + 1; j < t.Next(i); j = t.Next(j + 1) {
			m[string(t.Raw(j))] = tapeToAny(t, j+1)
		}
		return m
	case jsontext.KindArray:
		a := []any{}
		for j := i + 1; j < t.Next(i); j = t.Next(j) {
			a = append(a, tapeToAny(t, j))
		}
		return a
	case jsontext.KindString:
		var buf []byte
		return string(t.Str(i, &buf))
	case jsontext.KindNumber:
		return json.Number(t.Raw(i))
	case jsontext.KindTrue:
		return true
	case jsontext.KindFalse:
		return false
	}
	return nil
}

// TestStageWaysAgreeOnMutations is FuzzStageWaysAgree's check over the
// mutations of every shipped sample, compact and indented, for a partner
// whose policy has every action and path shape (wildcards over arrays and
// members, an index, a number, a drop by index last): the spliced masking
// meets every shape of member the schema tests see, and every event comes
// out as the decoded way's document.
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
