package mask

import "testing"

// remittance is free text as partners write it: references, dates,
// amounts, an IBAN and an e-mail address among words.
const remittance = "Invoice INV-7 paid from GB82 WEST 1234 5698 7654 32, questions to bob@acme.example; partial payment for November deliveries, " +
	"remaining balance of INV-2026-000019 follows with the next payment run, skonto 2 percent deducted as agreed in the framework " +
	"contract of 2025, freight costs for delivery note LS-88812 disputed, see our letter of 2026-11-02 and the credit note requested " +
	"from your accounts receivable team on 2026-11-05 (ticket 4471)"

// BenchmarkDetectors runs each detector alone over the remittance text,
// for the cost per byte of the free-text scan. Run:
//
//	go test -run '^$' -bench Detectors -benchmem ./bridge/mask/
func BenchmarkDetectors(b *testing.B) {
	for _, name := range DetectorNames() {
		d := detectors[name]
		b.Run(name, func(b *testing.B) {
			var hits [][2]int
			b.SetBytes(int64(len(remittance)))
			for b.Loop() {
				hits = d.find(hits[:0], remittance)
			}
			if len(hits) == 0 && name != "card" {
				b.Fatalf("%s found nothing", name)
			}
		})
	}
}
