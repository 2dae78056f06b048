package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/cloudevents"
)

func valPayment(i int, iban, email string) string {
	return fmt.Sprintf(`{"payment_id":"PAY-%05d","booked_at":"2026-11-23T10:00:00Z","amount":%d.25,"currency":"EUR",`+
		`"payer":{"name":"Acme GmbH","iban":%q,"email":%q,"phone":"+49 30 555%04d","tax_id":"DE123456789"},`+
		`"card":{"number":"4111 1111 1111 1111","expiry":"12/29"},`+
		`"remittance_info":"INV-%d, refund to GB82 WEST 1234 5698 7654 32 or mail ops@acme.example"}`, i, 100+i, iban, email, i, i)
}

func valOrder(i int) string {
	return fmt.Sprintf(`{"order_id":"ORD-%05d","created_at":"2026-11-23T10:00:00Z","customer":{"customer_id":"C%d","name":"Dealer","email":"buyer%d@dealer.example","phone":"+33 1 5555 %04d"},`+
		`"currency":"EUR","lines":[{"sku":"SKU-1","quantity":2,"unit_price":10.5}],"total":21}`, i, i, i, i)
}

// TestValidationMixedStream publishes valid, schema-invalid, malformed,
// oversized, unknown-type and not-allowed events from two partners and
// checks that exactly the valid ones reach the ERP, masked and as
// CloudEvents, and every other one is in the dead-letter stream with its
// reason.
func TestValidationMixedStream(t *testing.T) {
	t.Setenv("VAL_TEST_MASK_KEY", "integration-test-hmac-key-0001")
	schemasDir, err := filepath.Abs(filepath.Join("..", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	partner := startNATS(t, "")
	pnc, pjs := partner.js(t)
	createStream(t, pjs, "VAL_PARTNERS", "valbank.>", "valdealer.>")

	erpSrv := startNATS(t, "")
	enc, ejs := erpSrv.js(t)
	createStream(t, ejs, "VAL_ERP", "erp.>")
	var mu sync.Mutex
	atERP := map[string][]byte{}
	sub, err := enc.Subscribe("erp.>", func(m *nats.Msg) {
		mu.Lock()
		atERP[m.Header.Get(nats.MsgIdHdr)] = m.Data
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	erpYAML := fmt.Sprintf("type: nats\noptions:\n  url: %s\n  subject: erp.events.{partner}\n  jetstream: true\n", erpSrv.url())
	yaml := bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erpYAML,
		fmt.Sprintf(`  - name: bank-a
    inbound:
      type: nats
      options: {url: %s, subject: "valbank.>", stream: VAL_PARTNERS, durable: val-bank}
    allowed_types: [payment.received]
    max_message_bytes: 2048
    masking:
      hash_key_env: VAL_TEST_MASK_KEY
      policies:
        - types: [payment.received]
          fields:
            - {path: /payer/iban, action: last4}
            - {path: payer.email, action: hash}
            - {path: payer.phone, action: keep_last, keep: 2}
            - {path: /payer/tax_id, action: drop}
            - {path: card.number, action: redact}
          detectors: [iban, card, email]`, partner.url()),
		fmt.Sprintf(`  - name: dealer-c
    inbound:
      type: nats
      options: {url: %s, subject: "valdealer.>", stream: VAL_PARTNERS, durable: val-dealer}
    event_type: {subject_from_token: 2}
    allowed_types: [order.created]
    masking:
      policies:
        - fields:
            - {path: customer.email, action: redact}
            - {path: customer.phone, action: last4}`, partner.url()),
	) + "schemas_dir: " + schemasDir + "\n"
	rb := startBridge(t, yaml, app.Options{})

	type sent struct {
		subject, typ, body string
		reason             string // "" = must reach the ERP
		secrets            []string
	}
	var events []sent
	ibans := []string{"DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300"}
	for i := range 60 {
		iban := ibans[i%len(ibans)]
		email := fmt.Sprintf("payer%d@acme.example", i)
		events = append(events, sent{"valbank.in", "payment.received", valPayment(i, iban, email), "",
			[]string{iban, email, fmt.Sprintf("+49 30 555%04d", i), "DE123456789", "4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32", "ops@acme.example"}})
	}
	for i := range 30 {
		events = append(events, sent{fmt.Sprintf("valdealer.%d.order.created", i), "", valOrder(i), "",
			[]string{fmt.Sprintf("buyer%d@dealer.example", i), fmt.Sprintf("+33 1 5555 %04d", i)}})
	}
	for i := range 7 {
		events = append(events, sent{"valbank.in", "payment.received",
			strings.Replace(valPayment(1000+i, ibans[0], "x@y.example"), `"currency":"EUR"`, `"currency":"euro"`, 1), bridge.ReasonSchemaInvalid, nil})
	}
	for i := range 5 {
		events = append(events, sent{"valbank.in", "payment.received", fmt.Sprintf(`{"payment_id":"P%d",`, i), bridge.ReasonMalformed, nil})
	}
	for i := range 4 {
		events = append(events, sent{"valbank.in", "payment.received",
			fmt.Sprintf(`{"payment_id":"BIG-%d","pad":"%s"}`, i, strings.Repeat("x", 3000)), bridge.ReasonTooLarge, nil})
	}
	for i := range 3 {
		events = append(events, sent{"valbank.in", "payment.reversed", valPayment(2000+i, ibans[1], "a@b.example"), bridge.ReasonUnknownType, nil})
		events = append(events, sent{fmt.Sprintf("valdealer.%d.catalog.updated", i), "", valOrder(2000 + i), bridge.ReasonUnknownType, nil})
	}
	for i := range 6 {
		events = append(events, sent{"valbank.in", "order.created", valOrder(3000 + i), bridge.ReasonTypeNotAllowed, nil})
		events = append(events, sent{fmt.Sprintf("valdealer.%d.payment.received", i), "", valPayment(3000+i, ibans[2], "c@d.example"), bridge.ReasonTypeNotAllowed, nil})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := map[string]sent{}
	for i, ev := range events {
		m := nats.NewMsg(ev.subject)
		m.Data = []byte(ev.body)
		id := fmt.Sprintf("val-%04d", i)
		m.Header.Set(nats.MsgIdHdr, id)
		m.Header.Set("traceparent", fmt.Sprintf("00-%032x-%016x-01", i+1, i+1))
		if ev.typ != "" {
			m.Header.Set("Event-Type", ev.typ)
		}
		if _, err := pjs.PublishMsg(ctx, m); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		want[id] = ev
	}
	_ = pnc

	wantValid, wantDLQ := 0, map[string]int{}
	for _, ev := range want {
		if ev.reason == "" {
			wantValid++
		} else {
			wantDLQ[ev.reason]++
		}
	}
	js := rb.b.JetStream()
	dlqStream := rb.b.Topology().DeadLetterStream()
	var dlq map[string]*nats.Msg
	readDLQ := func() map[string]*nats.Msg {
		out := map[string]*nats.Msg{}
		c, err := js.OrderedConsumer(ctx, dlqStream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("dead-letter consumer: %v", err)
		}
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			t.Fatalf("fetch dead letters: %v", err)
		}
		for m := range batch.Messages() {
			out[m.Headers().Get(bridge.HeaderOriginalID)] = &nats.Msg{Header: nats.Header(m.Headers()), Data: m.Data()}
		}
		return out
	}
	eventually(t, 30*time.Second, "valid events at the ERP and the rest dead-lettered", func() (bool, string) {
		mu.Lock()
		n := len(atERP)
		mu.Unlock()
		dlq = readDLQ()
		return n == wantValid && len(dlq) == len(events)-wantValid,
			fmt.Sprintf("ERP %d of %d, dead-letter %d of %d", n, wantValid, len(dlq), len(events)-wantValid)
	})
	// Nothing more may arrive.
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	dlq = readDLQ()
	if len(atERP)+len(dlq) != len(events) {
		t.Fatalf("ERP %d + dead-letter %d != sent %d", len(atERP), len(dlq), len(events))
	}

	gotDLQ := map[string]int{}
	for id, m := range dlq {
		ev, ok := want[id]
		if !ok || ev.reason == "" {
			t.Fatalf("dead-lettered %s should not be (%s: %s)", id, m.Header.Get(bridge.HeaderReason), m.Header.Get(bridge.HeaderError))
		}
		reason := m.Header.Get(bridge.HeaderReason)
		if reason != ev.reason {
			t.Errorf("%s: reason %s (%s), want %s", id, reason, m.Header.Get(bridge.HeaderError), ev.reason)
		}
		if string(m.Data) != ev.body {
			t.Errorf("%s: dead-letter entry does not keep the original payload", id)
		}
		gotDLQ[reason]++
	}
	t.Logf("sent %d: ERP %d, dead-lettered %v", len(events), len(atERP), gotDLQ)
	for r, n := range wantDLQ {
		if gotDLQ[r] != n {
			t.Errorf("reason %s: %d dead-lettered, want %d", r, gotDLQ[r], n)
		}
	}

	hashes := map[string]string{}
	for id, body := range atERP {
		ev := want[id]
		if ev.reason != "" {
			t.Fatalf("%s reached the ERP but should be %s", id, ev.reason)
		}
		ce, err := cloudevents.Parse(body)
		if err != nil {
			t.Fatalf("%s: not a CloudEvent: %v\n%s", id, err, body)
		}
		wantSource, wantType := "bank-a", "payment.received"
		if strings.HasPrefix(ev.subject, "valdealer.") {
			wantSource, wantType = "dealer-c", "order.created"
		}
		if ce.ID != id || ce.Source != wantSource || ce.Type != wantType || ce.DataContentType != "application/json" ||
			ce.DataSchema != "https://schemas.dmzbridge.dev/"+wantType+"/v1.json" || ce.Time == "" ||
			!strings.HasPrefix(ce.TraceParent, "00-") || ce.PartnerMsgID != id {
			t.Fatalf("%s: CloudEvent attributes wrong: %s", id, body)
		}
		for _, s := range ev.secrets {
			if strings.Contains(string(ce.Data), s) {
				t.Fatalf("%s: %q reached the ERP unmasked: %s", id, s, ce.Data)
			}
		}
		if wantType == "payment.received" {
			var d struct {
				Payer map[string]any `json:"payer"`
				Card  map[string]any `json:"card"`
			}
			if err := json.Unmarshal(ce.Data, &d); err != nil {
				t.Fatal(err)
			}
			iban := ev.secrets[0]
			if d.Payer["iban"] != "****"+iban[len(iban)-4:] || d.Card["number"] != "[REDACTED]" || d.Payer["tax_id"] != nil {
				t.Fatalf("%s: payer %v card %v", id, d.Payer, d.Card)
			}
			// The same email always gives the same token; different ones differ.
			email := ev.secrets[1]
			tok, _ := d.Payer["email"].(string)
			if prev, ok := hashes[email]; ok && prev != tok {
				t.Fatalf("hash of %s not stable", email)
			}
			hashes[email] = tok
		}
	}
	distinct := map[string]bool{}
	for _, tok := range hashes {
		distinct[tok] = true
	}
	if len(distinct) != len(hashes) {
		t.Fatalf("%d emails gave only %d hash tokens", len(hashes), len(distinct))
	}
}
