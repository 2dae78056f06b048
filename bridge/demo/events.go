package demo

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// invalidEvery makes every n-th event of a partner invalid, cycling
// through the rejection reasons.
const invalidEvery = 10

var rejections = []string{
	bridge.ReasonSchemaInvalid, bridge.ReasonMalformed, bridge.ReasonTooLarge,
	bridge.ReasonUnknownType, bridge.ReasonTypeNotAllowed,
}

// maxBytes is every demo partner's message size limit.
const maxBytes = 8192

// event returns event i of partner p: its event type and body, and the
// reason it must be rejected for ("" when valid).
func event(p partner, pi, i int) (eventType string, body []byte, reason string) {
	eventType = p.eventType
	doc := document(p.eventType, i)
	if i%invalidEvery == invalidEvery-1 {
		reason = rejections[(i/invalidEvery+pi)%len(rejections)]
	}
	switch reason {
	case bridge.ReasonSchemaInvalid:
		doc["currency"] = "euro"
		delete(doc, "order_ref")
	case bridge.ReasonTooLarge:
		doc["padding"] = strings.Repeat("x", maxBytes)
	case bridge.ReasonUnknownType:
		eventType = "parcel.lost"
	case bridge.ReasonTypeNotAllowed:
		eventType = "invoice.issued"
		doc = document(eventType, i)
	}
	if p.typeSource == "json" {
		doc["type"] = eventType
	}
	body, _ = json.Marshal(doc)
	if reason == bridge.ReasonMalformed {
		body = body[:len(body)/2]
	}
	return eventType, body, reason
}

var ibans = []string{"DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "NL91ABNA0417164300"}

func document(eventType string, i int) map[string]any {
	ts := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
	switch eventType {
	case "payment.received":
		return map[string]any{
			"payment_id": fmt.Sprintf("PAY-%06d", i), "booked_at": ts, "amount": 100 + i, "currency": "EUR",
			"payer": map[string]any{"name": "Muster Handel GmbH", "iban": ibans[i%len(ibans)],
				"email": fmt.Sprintf("ap%d@muster.example", i%7), "phone": "+49 30 1234567", "tax_id": "DE123456789"},
			"remittance_info": fmt.Sprintf("INV-%06d; refunds to DE89 3704 0044 0532 0130 00, contact billing@muster.example", i),
			"invoice_refs":    []string{fmt.Sprintf("INV-%06d", i)},
		}
	case "shipment.dispatched":
		return map[string]any{
			"shipment_id": fmt.Sprintf("SHP-%06d", i), "order_ref": fmt.Sprintf("ORD-%06d", i), "carrier": "DHL",
			"tracking_number": fmt.Sprintf("JJD%012d", i), "dispatched_at": ts,
			"recipient": map[string]any{"name": "Jana Novak", "email": "jana.novak@example.org", "phone": "+420 601 123 456",
				"address": map[string]any{"street": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}},
			"packages":              []any{map[string]any{"package_id": fmt.Sprintf("PKG-%06d-1", i), "weight_kg": 2.5}},
			"delivery_instructions": "leave at the door, call +420 601 123 456",
		}
	case "invoice.issued":
		return map[string]any{
			"invoice_number": fmt.Sprintf("INV-%06d", i), "issue_date": "2026-11-23", "due_date": "2026-12-23",
			"seller": map[string]any{"name": "Seller AG", "tax_id": "DE811111111"}, "buyer": map[string]any{"name": "Buyer SA", "tax_id": "FR40303265045"},
			"currency": "EUR", "lines": []any{map[string]any{"description": "Service", "quantity": 1, "unit_price": 100, "tax_rate": 19}},
			"total_net": 100, "total_tax": 19, "total_gross": 119,
		}
	default: // order.created
		return map[string]any{
			"order_id": fmt.Sprintf("ORD-%06d", i), "created_at": ts, "currency": "EUR", "total": 42.5,
			"customer": map[string]any{"customer_id": fmt.Sprintf("C-%04d", i%50), "name": "Autohaus Beispiel", "email": "orders@autohaus.example",
				"phone": "+49 89 7654321", "vat_id": "DE987654321"},
			"lines":   []any{map[string]any{"sku": "BRK-PAD-01", "quantity": 2, "unit_price": 21.25}},
			"payment": map[string]any{"method": "card", "card_number": "4111 1111 1111 1111"},
			"note":    "urgent; card on file 5500 0055 5555 5559",
		}
	}
}

// reasonCounter counts dead letters by reason for the summary.
type reasonCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (d *reasonCounter) Received(*bridge.Envelope)                 {}
func (d *reasonCounter) Stored(*bridge.Envelope)                   {}
func (d *reasonCounter) Forwarded(*bridge.Envelope, time.Duration) {}
func (d *reasonCounter) ForwardFailed(*bridge.Envelope, error)     {}
func (d *reasonCounter) DeadLettered(_ *bridge.Envelope, r *bridge.Rejection) {
	d.mu.Lock()
	if d.n == nil {
		d.n = map[string]int{}
	}
	d.n[r.Reason]++
	d.mu.Unlock()
}

func (d *reasonCounter) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var parts []string
	for _, r := range rejections {
		parts = append(parts, fmt.Sprintf("%s %d", r, d.n[r]))
	}
	return strings.Join(parts, ", ")
}
