package app

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

const chainYAML = `environment: test
jetstream: {embedded: true, store_dir: /tmp/unused}
schemas_dir: %SCHEMAS%
erp: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: erp.events}}
partners:
  - name: masked
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "m.>"}}
    allowed_types: [payment.received]
    max_message_bytes: 400
    identity: {field: /partner}
    masking:
      policies:
        - types: [payment.received]
          fields:
            - {path: /payer/iban, action: last4}
  - name: plain
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "p.>"}}
    allowed_types: [payment.received]
  - name: open
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "o.>"}}
    max_message_bytes: 50
`

// TestChain: Intake applies every rule to an event as sent; Stored applies
// identity, size and allowed types to a stored event, and the schema too
// unless the event's type is masked (a masked IBAN fails its pattern).
func TestChain(t *testing.T) {
	cfg, err := config.Parse([]byte(strings.ReplaceAll(chainYAML, "%SCHEMAS%", filepath.Join("..", "..", "schemas"))))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := NewChain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pay := func(iban, extra string) string {
		return `{"payment_id":"P-1","booked_at":"2026-11-02T10:00:00Z","amount":1,"currency":"EUR","payer":{"name":"A","iban":"` + iban + `"}` + extra + `}`
	}
	const iban = "DE89370400440532013000"
	const maskedIBAN = "****3000"
	tests := []struct {
		name, partner, typ, payload string
		stored                      bool   // run Chain.Stored instead of Chain.Intake
		reason                      string // "" when accepted
		out                         string // the payload after the chain, when accepted
	}{
		{name: "intake masks", partner: "masked", typ: "payment.received", payload: pay(iban, ""), out: pay(maskedIBAN, "")},
		{name: "intake identity", partner: "masked", typ: "payment.received", payload: pay(iban, `,"partner":"other"`), reason: bridge.ReasonPartnerMismatch},
		{name: "intake type", partner: "masked", typ: "order.created", payload: `{}`, reason: bridge.ReasonTypeNotAllowed},
		{name: "intake size", partner: "masked", typ: "payment.received", payload: pay(iban, `,"remittance_info":"`+strings.Repeat("x", 300)+`"`), reason: bridge.ReasonTooLarge},
		{name: "intake schema", partner: "plain", typ: "payment.received", payload: pay(iban, `,"end_to_end_id":"`+strings.Repeat("e", 36)+`"`), reason: bridge.ReasonSchemaInvalid},
		{name: "intake open partner size", partner: "open", payload: strings.Repeat("x", 51), reason: bridge.ReasonTooLarge},

		{name: "stored masked goes back unchanged", stored: true, partner: "masked", typ: "payment.received", payload: pay(maskedIBAN, ""), out: pay(maskedIBAN, "")},
		{name: "stored identity", stored: true, partner: "masked", typ: "payment.received", payload: pay(maskedIBAN, `,"partner":"other"`), reason: bridge.ReasonPartnerMismatch},
		{name: "stored type no longer allowed", stored: true, partner: "masked", typ: "order.created", payload: `{}`, reason: bridge.ReasonTypeNotAllowed},
		{name: "stored type unknown", stored: true, partner: "masked", typ: "nothing.known", payload: `{}`, reason: bridge.ReasonUnknownType},
		{name: "stored size", stored: true, partner: "masked", typ: "payment.received", payload: pay(maskedIBAN, `,"remittance_info":"`+strings.Repeat("x", 300)+`"`), reason: bridge.ReasonTooLarge},
		{name: "stored unmasked type gets the schema", stored: true, partner: "plain", typ: "payment.received", payload: pay(iban, `,"end_to_end_id":"`+strings.Repeat("e", 36)+`"`), reason: bridge.ReasonSchemaInvalid},
		{name: "stored unmasked valid", stored: true, partner: "plain", typ: "payment.received", payload: pay(iban, ""), out: pay(iban, "")},
		{name: "stored open partner size", stored: true, partner: "open", payload: strings.Repeat("x", 51), reason: bridge.ReasonTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &bridge.Envelope{ID: "e", Partner: tc.partner, EventType: tc.typ, Payload: []byte(tc.payload),
				Headers: map[string]string{config.DefaultEventTypeHeader: tc.typ}}
			stages := chain.Intake
			if tc.stored {
				stages = chain.Stored
			}
			var err error
			for _, st := range stages {
				if err = st.Process(context.Background(), env); err != nil {
					break
				}
			}
			if tc.reason != "" {
				r, ok := bridge.AsRejection(err)
				if !ok || r.Reason != tc.reason {
					t.Fatalf("got %v, want %s", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !bytes.Equal(env.Payload, []byte(tc.out)) {
				t.Fatalf("payload\n%s\nwant\n%s", env.Payload, tc.out)
			}
		})
	}
}
