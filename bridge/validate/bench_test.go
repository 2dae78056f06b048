package validate

import (
	"context"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// benchEvent is a payment.received of 1 KB: the sample payment with a
// longer remittance text, six invoice references and the value date.
var benchEvent = strings.Replace(strings.Replace(validPayment,
	`"invoice_refs":["INV-7"]`,
	`"invoice_refs":["INV-2026-000007","INV-2026-000008","INV-2026-000011","INV-2026-000019","INV-2026-000023","INV-2026-000031"],`+
		`"value_date":"2026-11-24","end_to_end_id":"E2E-2026-11-23-000000042","type":"payment.received","partner":"bank-a-treasury-eu"`, 1),
	`questions to bob@acme.example`,
	`questions to bob@acme.example; partial payment for November deliveries, remaining balance of INV-2026-000019 follows with the next payment run, `+
		`skonto 2 percent deducted as agreed in the framework contract of 2025, freight costs for delivery note LS-88812 disputed, `+
		`see our letter of 2026-11-02 and the credit note requested from your accounts receivable team on 2026-11-05 (ticket 4471)`, 1)

func TestBenchEventIsValidAndAboutOneKB(t *testing.T) {
	if n := len(benchEvent); n < 1000 || n > 1100 {
		t.Fatalf("bench event is %d bytes", n)
	}
	st := newStage(t, testConfig(bank()))
	if err := st.Process(context.Background(), envelope("bank-a", "payment.received", benchEvent)); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkValidateAndMask measures one ~1 KB payment event through size
// check, JSON decoding, routing, schema validation, five field rules, three
// detectors over its free text and re-encoding. Run:
//
//	go test -run '^$' -bench ValidateAndMask -benchmem ./bridge/validate/
func BenchmarkValidateAndMask(b *testing.B) {
	st := newStage(b, testConfig(bank()))
	payload := []byte(benchEvent)
	h := map[string]string{"Event-Type": "payment.received"}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		env := bridge.Envelope{Partner: "bank-a", Headers: h, Payload: payload}
		if err := st.Process(context.Background(), &env); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkValidateOnly is the same event for a partner without masking.
func BenchmarkValidateOnly(b *testing.B) {
	p := bank()
	p.Masking.Policies = nil
	st := newStage(b, testConfig(p))
	payload := []byte(benchEvent)
	h := map[string]string{"Event-Type": "payment.received"}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		env := bridge.Envelope{Partner: "bank-a", Headers: h, Payload: payload}
		if err := st.Process(context.Background(), &env); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeReference is encoding/json alone decoding the same event:
// a yardstick for how fast this machine is, not part of the target.
func BenchmarkDecodeReference(b *testing.B) {
	payload := []byte(benchEvent)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stdlibDecode(payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
