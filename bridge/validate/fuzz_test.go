package validate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
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
