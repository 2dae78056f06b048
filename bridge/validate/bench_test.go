package validate

import (
	"context"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// benchEvent is a payment.received of about 1 KB.
var benchEvent = strings.Replace(validPayment, `"invoice_refs":["INV-7"]`,
	`"invoice_refs":["INV-7","INV-8","INV-9","INV-10","INV-11","INV-12","INV-13","INV-14","INV-15","INV-16","INV-17","INV-18","INV-19","INV-20","INV-21","INV-22","INV-23","INV-24","INV-25","INV-26","INV-27","INV-28","INV-29","INV-30","INV-31","INV-32"],`+
		`"value_date":"2026-11-24","end_to_end_id":"E2E-2026-11-23-000000042"`, 1)

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
	b.ResetTimer()
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
