package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// One valid event of every shipped type.
var validShipment = `{"shipment_id":"SHP-1","order_ref":"ORD-1","carrier":"DHL","tracking_number":"JJD000000000001",` +
	`"dispatched_at":"2026-11-23T08:00:00Z","recipient":{"name":"Jana Novak","email":"jana.novak@example.org","phone":"+420 601 123 456",` +
	`"address":{"street":"Hauptstr. 1","city":"Berlin","postal_code":"10115","country":"DE"}},` +
	`"packages":[{"package_id":"PKG-1-1","weight_kg":2.5}],"delivery_instructions":"leave at the door"}`

var validInvoice = `{"invoice_number":"INV-1","issue_date":"2026-11-23","due_date":"2026-12-23",` +
	`"seller":{"name":"Seller AG","tax_id":"DE811111111"},"buyer":{"name":"Buyer SA","tax_id":"FR40303265045"},` +
	`"currency":"EUR","lines":[{"description":"Service","quantity":1,"unit_price":100,"tax_rate":19}],` +
	`"total_net":100,"total_tax":19,"total_gross":119}`

func shippedSamples() map[string]string {
	return map[string]string{"order.created": validOrder, "payment.received": validPayment,
		"shipment.dispatched": validShipment, "invoice.issued": validInvoice}
}

func decode(t testing.TB, s string) any {
	t.Helper()
	doc, err := stdlibDecode([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestShippedSchemasHaveFastPath: every shipped schema is covered by the
// fast path, and the fast path accepts a valid event of it (so it is
// what actually decides valid traffic, not the library).
func TestShippedSchemasHaveFastPath(t *testing.T) {
	reg := registry(t)
	for typ, sample := range shippedSamples() {
		s, ok := reg.Lookup(typ)
		if !ok {
			t.Fatalf("no schema for %s", typ)
		}
		if !s.HasFastPath() {
			t.Errorf("%s has no fast path", typ)
			continue
		}
		doc := decode(t, sample)
		if err := s.schema.Validate(doc); err != nil {
			t.Fatalf("%s sample is not valid: %v", typ, err)
		}
		if !fastAccepts(t, s.fast, doc) {
			t.Errorf("%s: the fast path does not accept a valid event", typ)
		}
	}
}

// mutations derive invalid and borderline documents from a valid one: each
// member removed, replaced by values of every kind, strings stretched,
// numbers set to and around bounds, arrays emptied and repeated.
func mutations(doc any) []any {
	var out []any
	var walk func(v any, set func(any))
	replacements := []any{nil, true, false, "", "x", strings.Repeat("y", 600), "2026-13-45T99:00:00Z", "not an email",
		json.Number("0"), json.Number("-1"), json.Number("1.5"), json.Number("1e3"), json.Number("2.0"),
		json.Number("-0.0000000000000000001"), json.Number("1e400"), map[string]any{}, []any{}, map[string]any{"extra": "1"}}
	walk = func(v any, set func(any)) {
		for _, r := range replacements {
			set(r)
			out = append(out, deepCopy(doc))
		}
		switch x := v.(type) {
		case map[string]any:
			set(x)
			for k, child := range x {
				delete(x, k)
				out = append(out, deepCopy(doc))
				x[k] = child
				walk(child, func(nv any) { x[k] = nv })
				x[k] = child
			}
			x["unexpected_member"] = "1"
			out = append(out, deepCopy(doc))
			delete(x, "unexpected_member")
		case []any:
			set(x)
			for i, child := range x {
				walk(child, func(nv any) { x[i] = nv })
				x[i] = child
			}
			set([]any{})
			out = append(out, deepCopy(doc))
			set(append(append([]any{}, x...), x...))
			out = append(out, deepCopy(doc))
		}
		set(v)
	}
	walk(doc, func(any) {})
	return out
}

// fastAccepts runs the fast path n on doc written as JSON and read onto
// a tape, as the stage reads events.
func fastAccepts(t testing.TB, n *fastNode, doc any) bool {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var r jsontext.TapeReader
	tp, err := r.Read(b)
	if err != nil {
		t.Fatalf("the tape reader does not read %s: %v", b, err)
	}
	return n.valid(tp, 0, &walkScratch{})
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = deepCopy(e)
		}
		return a
	}
	return v
}

// TestFastPathNeverAcceptsWhatTheLibraryRejects is the fast path's
// contract, checked on thousands of mutated events of every shipped type;
// it also shows the fast path decides most valid mutations itself.
func TestFastPathNeverAcceptsWhatTheLibraryRejects(t *testing.T) {
	reg := registry(t)
	for typ, sample := range shippedSamples() {
		s, _ := reg.Lookup(typ)
		var valid, fastValid, invalid int
		for _, doc := range mutations(decode(t, sample)) {
			libErr := s.schema.Validate(doc)
			fast := fastAccepts(t, s.fast, doc)
			if fast && libErr != nil {
				b, _ := json.Marshal(doc)
				t.Fatalf("%s: fast path accepts what the library rejects (%v):\n%s", typ, libErr, b)
			}
			if libErr == nil {
				valid++
				if fast {
					fastValid++
				}
			} else {
				invalid++
			}
		}
		t.Logf("%s: %d valid (%d decided by the fast path), %d invalid", typ, valid, fastValid, invalid)
		if invalid == 0 || valid == 0 || fastValid*2 < valid {
			t.Errorf("%s: %d valid, %d by the fast path, %d invalid: the mutations do not exercise both sides", typ, valid, fastValid, invalid)
		}
	}
}

// FuzzFastPath: for any JSON document and any shipped type, the fast path
// accepts only what the library accepts.
func FuzzFastPath(f *testing.F) {
	for typ, sample := range shippedSamples() {
		f.Add(typ, []byte(sample))
	}
	f.Add("order.created", []byte(`{"total":0,"lines":[{"quantity":1e0}]}`))
	reg := registry(f)
	f.Fuzz(func(t *testing.T, typ string, payload []byte) {
		s, ok := reg.Lookup(typ)
		if !ok {
			return
		}
		var r jsontext.TapeReader
		tp, err := r.Read(payload)
		if err != nil {
			return
		}
		if s.fast.valid(tp, 0, &walkScratch{}) {
			doc, err := stdlibDecode(payload)
			if err != nil {
				t.Fatalf("the tape reader reads what encoding/json rejects (%v): %s", err, payload)
			}
			if err := s.schema.Validate(doc); err != nil {
				t.Fatalf("fast path accepts what the library rejects (%v): %s", err, payload)
			}
		}
	})
}

// TestFastPathKeywords: keywords the fast path covers, decided like the
// library; a keyword it does not cover leaves the schema without one.
func TestFastPathKeywords(t *testing.T) {
	tests := []struct {
		schema string
		doc    string
		fast   bool // fast path accepts
	}{
		{`{"type":"integer"}`, `3`, true},
		{`{"type":"integer"}`, `3.5`, false},
		{`{"type":"integer"}`, `3.0`, false}, // valid, but the library decides
		{`{"type":["string","null"]}`, `null`, true},
		{`{"enum":["a","b"]}`, `"b"`, true},
		{`{"enum":["a","b"]}`, `"c"`, false},
		{`{"const":true}`, `true`, true},
		{`{"minimum":0}`, `0`, true},
		{`{"minimum":0}`, `-0.0000000000000000000001`, false},
		{`{"exclusiveMinimum":0}`, `0`, false},
		{`{"minimum":0.1}`, `0.1`, true},
		{`{"maximum":0.1}`, `0.1000000000000000000001`, false},
		{`{"minimum":0}`, `0.5`, true},
		{`{"exclusiveMaximum":10}`, `9.999`, true},
		{`{"exclusiveMaximum":10}`, `10`, false},
		{`{"minLength":2,"maxLength":3}`, `"éé"`, true},
		{`{"minLength":2,"maxLength":3}`, `"éééé"`, false},
		{`{"pattern":"^[A-Z]{2}$"}`, `"DE"`, true},
		{`{"format":"date-time"}`, `"2026-11-23T10:00:00Z"`, true},
		{`{"format":"date-time"}`, `"yesterday"`, false},
		{`{"required":["a"],"properties":{"a":{"type":"string"}},"additionalProperties":false}`, `{"a":"x"}`, true},
		{`{"required":["a"],"properties":{"a":{"type":"string"}},"additionalProperties":false}`, `{"a":"x","b":1}`, false},
		{`{"patternProperties":{"^x-":{"type":"string"}},"additionalProperties":false}`, `{"x-a":"1"}`, true},
		{`{"additionalProperties":{"type":"number"}}`, `{"a":"1"}`, false},
		{`{"items":{"type":"string"},"minItems":1}`, `["a"]`, true},
		{`{"items":{"type":"string"},"minItems":1}`, `[]`, false},
		{`{"prefixItems":[{"type":"number"}],"items":{"type":"string"}}`, `[1,"a"]`, true},
		{`{"anyOf":[{"type":"string"},{"type":"number"}]}`, `1`, true},
		{`{"allOf":[{"type":"number"},{"minimum":5}]}`, `4`, false},
		{`{"$defs":{"s":{"type":"string"}},"$ref":"#/$defs/s"}`, `"x"`, true},
		{`{"$defs":{"s":{"type":"string"}},"$ref":"#/$defs/s"}`, `1`, false},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s := compileTestSchema(t, tc.schema)
			n := compileFast(s)
			if n == nil {
				t.Fatalf("schema %s has no fast path", tc.schema)
			}
			doc := decode(t, tc.doc)
			if got := fastAccepts(t, n, doc); got != tc.fast {
				t.Fatalf("fast path on %s for %s: %v, want %v", tc.doc, tc.schema, got, tc.fast)
			}
			if tc.fast && s.Validate(doc) != nil {
				t.Fatalf("library rejects %s that the fast path accepts", tc.doc)
			}
		})
	}
	for _, unsupported := range []string{`{"oneOf":[{"type":"string"}]}`, `{"not":{"type":"string"}}`,
		`{"uniqueItems":true}`, `{"multipleOf":2}`, `{"if":{"type":"string"},"then":{"minLength":1}}`,
		`{"enum":[1,2]}`, `{"properties":{"a":{"contains":{"type":"string"}}}}`} {
		if compileFast(compileTestSchema(t, unsupported)) != nil {
			t.Errorf("%s: a keyword outside the fast path must leave the schema to the library", unsupported)
		}
	}
}

func compileTestSchema(t *testing.T, src string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	if err := c.AddResource("mem://s.json", strings.NewReader(src)); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("mem://s.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func stdlibDecode(payload []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("trailing data")
	}
	return doc, nil
}

func TestNumCompareAtEqualBounds(t *testing.T) {
	for _, tc := range []struct {
		num, bound string
		want       int
	}{
		{"0", "0", 0}, {"-0", "0", 0}, {"10", "10", 0}, {"10", "10.5", -1},
		{"0.1", "1/10", 0}, // equal floats, not short integers: read exactly
		{"0.10000000000000000001", "1/10", 1},
		{"9007199254740993", "9007199254740992", 1}, // beyond a float's integers
	} {
		r, _ := new(big.Rat).SetString(tc.bound)
		f, _ := strconv.ParseFloat(tc.num, 64)
		c := numCompare{s: tc.num, f: f}
		if got, ok := c.cmp(newBound(r)); !ok || got != tc.want {
			t.Errorf("%s vs %s: %d (%v), want %d", tc.num, tc.bound, got, ok, tc.want)
		}
	}
}
