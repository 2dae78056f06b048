package validate

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/mask"
	"github.com/dmzbridge/dmzbridge/schemas"
)

func registry(t testing.TB) *Registry {
	t.Helper()
	reg, err := LoadFS(schemas.FS, "schemas")
	if err != nil {
		t.Fatalf("shipped schemas: %v", err)
	}
	return reg
}

// Sample events, valid against the shipped schemas.
const (
	validPayment = `{"payment_id":"PAY-1","booked_at":"2026-11-23T10:00:00Z","amount":1250.5,"currency":"EUR",` +
		`"payer":{"name":"Acme GmbH","iban":"DE89370400440532013000","email":"ap@acme.example","phone":"+49 30 1234567","tax_id":"DE123456789"},` +
		`"card":{"number":"4111 1111 1111 1111","holder":"A Lee","expiry":"12/29"},` +
		`"remittance_info":"Invoice INV-7 paid from GB82 WEST 1234 5698 7654 32, questions to bob@acme.example","invoice_refs":["INV-7"]}`
	validOrder = `{"order_id":"ORD-9","created_at":"2026-11-23T10:00:00Z","customer":{"customer_id":"C1","name":"Dealer One","email":"d1@dealer.example"},` +
		`"currency":"EUR","lines":[{"sku":"SKU-1","quantity":2,"unit_price":10.5}],"total":21}`
)

func testConfig(partners ...config.Partner) *config.Config {
	return &config.Config{SchemasDir: "schemas", Partners: partners}
}

func bank() config.Partner {
	return config.Partner{Name: "bank-a", PartnerChecks: config.PartnerChecks{
		AllowedTypes:    []string{"payment.received"},
		MaxMessageBytes: 4096,
		Masking: config.Masking{HashKeyEnv: "K", Policies: []config.MaskPolicy{{
			Types: []string{"payment.received"},
			Fields: []config.MaskField{
				{Path: "/payer/iban", Action: "last4"},
				{Path: "/payer/email", Action: "hash"},
				{Path: "payer.phone", Action: "redact"},
				{Path: "card.number", Action: "last4"},
				{Path: "/payer/tax_id", Action: "drop"},
			},
			Detectors: []string{"iban", "card", "email"},
		}}},
	}}
}

func newStage(t testing.TB, cfg *config.Config) *Stage {
	t.Helper()
	masks := map[string]Masker{}
	for i, p := range cfg.Partners {
		if len(p.Masking.Policies) == 0 {
			continue
		}
		pol, err := mask.Compile("partners["+string(rune('0'+i))+"].masking", p.Masking, func(string) string { return "test-key-of-sixteen-bytes" })
		if err != nil {
			t.Fatal(err)
		}
		masks[p.Name] = pol
	}
	st, err := NewStage(cfg, registry(t), masks)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func envelope(partner, eventType, payload string) *bridge.Envelope {
	h := map[string]string{}
	if eventType != "" {
		h["Event-Type"] = eventType
	}
	return &bridge.Envelope{ID: "m1", Partner: partner, Headers: h, Payload: []byte(payload)}
}

func TestReasonCodes(t *testing.T) {
	st := newStage(t, testConfig(bank(), config.Partner{Name: "open"}))
	for _, tc := range []struct {
		name, partner, typ, payload string
		reason                      string // "" = accepted
		detail                      string
	}{
		{"valid", "bank-a", "payment.received", validPayment, "", ""},
		{"valid with version", "bank-a", "payment.received.v1", validPayment, "", ""},
		{"malformed", "bank-a", "payment.received", `{"payment_id":`, bridge.ReasonMalformed, "not a JSON document"},
		{"trailing data", "bank-a", "payment.received", `{} {}`, bridge.ReasonMalformed, "data after the JSON value"},
		{"too large", "bank-a", "payment.received", `{"pad":"` + strings.Repeat("x", 5000) + `"}`, bridge.ReasonTooLarge, "limit for bank-a is 4096"},
		{"no type", "bank-a", "", validPayment, bridge.ReasonUnknownType, "no event type in header Event-Type"},
		{"unknown type", "bank-a", "payment.refunded", validPayment, bridge.ReasonUnknownType, `"payment.refunded" has no schema`},
		{"unknown version", "bank-a", "payment.received.v7", validPayment, bridge.ReasonUnknownType, "has no schema"},
		{"type not allowed", "bank-a", "order.created", validOrder, bridge.ReasonTypeNotAllowed, "bank-a may not send order.created"},
		{"schema invalid", "bank-a", "payment.received", `{"payment_id":"P","booked_at":"yesterday","amount":-1,"currency":"euro","payer":{}}`,
			bridge.ReasonSchemaInvalid, "/payer: required: missing properties: 'name'"},
		{"unvalidated partner passes", "open", "", "not even json", "", ""},
		{"unknown partner passes", "nobody", "", "x", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := envelope(tc.partner, tc.typ, tc.payload)
			err := st.Process(context.Background(), env)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			r, ok := bridge.AsRejection(err)
			if !ok {
				t.Fatalf("want rejection %s, got %v", tc.reason, err)
			}
			if r.Reason != tc.reason || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("got %s (%s), want %s containing %q", r.Reason, r.Detail, tc.reason, tc.detail)
			}
			if string(env.Payload) != tc.payload {
				t.Fatalf("a rejected event's payload changed")
			}
			if wantType := map[string]string{bridge.ReasonTypeNotAllowed: tc.typ, bridge.ReasonSchemaInvalid: tc.typ}[tc.reason]; env.EventType != wantType {
				t.Fatalf("event type on the rejected envelope %q, want %q", env.EventType, wantType)
			}
		})
	}
}

func TestSchemaInvalidDetailHidesValues(t *testing.T) {
	st := newStage(t, testConfig(bank()))
	bad := strings.Replace(validPayment, `"ap@acme.example"`, `"not-an-email-SECRET"`, 1)
	bad = strings.Replace(bad, `1250.5`, `-77123`, 1)
	err := st.Process(context.Background(), envelope("bank-a", "payment.received", bad))
	r, ok := bridge.AsRejection(err)
	if !ok || r.Reason != bridge.ReasonSchemaInvalid {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"/payer/email: format", "/amount: exclusiveMinimum", "payment.received/v1.json"} {
		if !strings.Contains(r.Detail, want) {
			t.Errorf("detail %q lacks %q", r.Detail, want)
		}
	}
	for _, leak := range []string{"SECRET", "77123"} {
		if strings.Contains(r.Detail, leak) {
			t.Errorf("detail %q quotes the value %s", r.Detail, leak)
		}
	}
}

func TestSchemaInvalidDetailIsCapped(t *testing.T) {
	st := newStage(t, testConfig(bank()))
	var b strings.Builder
	b.WriteString(`{"payment_id":"P","booked_at":"2026-11-23T10:00:00Z","amount":1,"currency":"EUR","payer":{"name":"n"}`)
	for i := range 200 {
		b.WriteString(`,"extra_field_number_` + string(rune('a'+i%26)) + strings.Repeat("x", i) + `":1`)
	}
	b.WriteString("}")
	cfg := testConfig(bank())
	cfg.Partners[0].MaxMessageBytes = 0
	st = newStage(t, cfg)
	r, _ := bridge.AsRejection(st.Process(context.Background(), envelope("bank-a", "payment.received", b.String())))
	if r == nil || r.Reason != bridge.ReasonSchemaInvalid {
		t.Fatalf("got %v", r)
	}
	if len(r.Detail) > maxDetail+200 {
		t.Errorf("detail is %d bytes", len(r.Detail))
	}
}

func TestMaskingReplacesPayload(t *testing.T) {
	st := newStage(t, testConfig(bank()))
	orig := []byte(validPayment)
	env := &bridge.Envelope{ID: "m1", Partner: "bank-a", Headers: map[string]string{"Event-Type": "payment.received"}, Payload: orig}
	if err := st.Process(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if string(orig) != validPayment {
		t.Fatal("the original payload was modified in place")
	}
	if env.EventType != "payment.received" {
		t.Errorf("event type %q", env.EventType)
	}
	var got map[string]any
	if err := json.Unmarshal(env.Payload, &got); err != nil {
		t.Fatalf("masked payload is not JSON: %v\n%s", err, env.Payload)
	}
	out := string(env.Payload)
	for _, secret := range []string{"DE89370400440532013000", "ap@acme.example", "+49 30 1234567", "DE123456789",
		"4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32", "bob@acme.example"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s survives: %s", secret, out)
		}
	}
	payer := got["payer"].(map[string]any)
	if payer["iban"] != "****3000" || payer["phone"] != mask.RedactToken || !strings.HasPrefix(payer["email"].(string), mask.HashPrefix) {
		t.Errorf("payer masked as %v", payer)
	}
	if _, ok := payer["tax_id"]; ok {
		t.Errorf("tax_id not dropped: %v", payer)
	}
	if got["card"].(map[string]any)["number"] != "****1111" {
		t.Errorf("card %v", got["card"])
	}
	if !strings.Contains(got["remittance_info"].(string), "Invoice INV-7 paid from [REDACTED], questions to [REDACTED]") {
		t.Errorf("remittance_info %q", got["remittance_info"])
	}
}

func TestEventTypeSources(t *testing.T) {
	two := 2
	withPayload := func(body string) string {
		return strings.Replace(validPayment, `{"payment_id"`, body+`,"payment_id"`, 1)
	}
	for _, tc := range []struct {
		name    string
		src     config.EventTypeSource
		headers map[string]string
		payload string
		want    string // "" = unknown_type
	}{
		{"default header", config.EventTypeSource{}, map[string]string{"Event-Type": "payment.received"}, validPayment, "payment.received"},
		{"custom header", config.EventTypeSource{Header: "X-Kind"}, map[string]string{"X-Kind": "payment.received", "Event-Type": "order.created"}, validPayment, "payment.received"},
		{"json pointer", config.EventTypeSource{JSONField: "/type"}, nil, withPayload(`{"type":"payment.received"`), "payment.received"},
		{"json field not a string", config.EventTypeSource{JSONField: "type"}, nil, withPayload(`{"type":7`), ""},
		{"subject token", config.EventTypeSource{SubjectFromToken: &two}, map[string]string{SubjectHeader: "partners.bank-a.payment.received"}, validPayment, "payment.received"},
		{"amqp routing key", config.EventTypeSource{SubjectFromToken: &two}, map[string]string{RoutingKeyHeader: "bank.eu.payment.received"}, validPayment, "payment.received"},
		{"subject too short", config.EventTypeSource{SubjectFromToken: &two}, map[string]string{SubjectHeader: "partners.bank-a"}, validPayment, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := bank()
			p.Masking = config.Masking{}
			p.EventType = tc.src
			st := newStage(t, testConfig(p))
			h := map[string]string{}
			for k, v := range tc.headers {
				h[k] = v
			}
			env := &bridge.Envelope{Partner: "bank-a", Headers: h, Payload: []byte(tc.payload)}
			err := st.Process(context.Background(), env)
			if tc.want == "" {
				if r, ok := bridge.AsRejection(err); !ok || r.Reason != bridge.ReasonUnknownType {
					t.Fatalf("want unknown_type, got %v", err)
				}
				return
			}
			if err != nil || env.EventType != tc.want {
				t.Fatalf("got %q, %v; want %q", env.EventType, err, tc.want)
			}
		})
	}
}

func TestShippedSchemasOnDiskMatchEmbedded(t *testing.T) {
	reg, err := LoadDir(filepath.Join("..", "..", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"invoice.issued", "order.created", "payment.received", "shipment.dispatched"}
	if got := strings.Join(reg.Types(), ","); got != strings.Join(want, ",") {
		t.Fatalf("types %s, want %v", got, want)
	}
	s, _ := reg.Lookup("order.created")
	if s.ID != "https://schemas.dmzbridge.dev/order.created/v1.json" || s.Version != 1 {
		t.Errorf("order.created: %+v", s)
	}
}

func TestSchemaErrorsNameFileAndPointer(t *testing.T) {
	for _, tc := range []struct {
		name, file, body, want string
	}{
		{"meta-schema violation", "bad.type.v1.json",
			`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"amount":{"type":"money"},"n":{"minimum":"zero"}}}`,
			"dir/bad.type.v1.json#/properties/amount/type"},
		{"second violation too", "bad.type.v1.json",
			`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"amount":{"type":"money"},"n":{"minimum":"zero"}}}`,
			"dir/bad.type.v1.json#/properties/n/minimum"},
		{"syntax error", "broken.v1.json", "{\n  \"type\": \"object\",\n  oops\n}", "dir/broken.v1.json: not a JSON object: line 3 column 3"},
		{"bad name", "orders.json", `{}`, "dir/orders.json: file name must be <event type>.v<version>.json"},
		{"remote ref refused", "remote.v1.json", `{"$ref":"https://example.com/other.json"}`, "dir/remote.v1.json: "},
		{"bad regex", "rx.v1.json", `{"type":"string","pattern":"(["}`, "dir/rx.v1.json#/pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFS(fstest.MapFS{tc.file: {Data: []byte(tc.body)}}, "dir")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNewStageChecksAllowedTypes(t *testing.T) {
	p := bank()
	p.AllowedTypes = []string{"payment.received", "payment.refunded"}
	_, err := NewStage(testConfig(p), registry(t), nil)
	if err == nil || !strings.Contains(err.Error(), `partners[0].allowed_types[1]: "payment.refunded" has no schema`) {
		t.Fatalf("err = %v", err)
	}
}

// TestStageConcurrent runs one stage from several goroutines, as the
// sources do; run with -race. Every copy of an event must be masked the
// same way.
func TestStageConcurrent(t *testing.T) {
	st := newStage(t, testConfig(bank()))
	first := envelope("bank-a", "payment.received", validPayment)
	if err := st.Process(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				env := envelope("bank-a", "payment.received", validPayment)
				if err := st.Process(context.Background(), env); err != nil {
					errs <- err.Error()
					return
				}
				if string(env.Payload) != string(first.Payload) {
					errs <- "masked output differs: " + string(env.Payload)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
