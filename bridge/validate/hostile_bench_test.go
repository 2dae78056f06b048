package validate

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// hostileSize is the size every shape is built to: the largest message a
// partner is commonly allowed.
const hostileSize = 1 << 20

// hostileShapes are payloads of about hostileSize bytes, each built to
// make a reader work hard, with the reason the stage must give ("" =
// accepted). The malformed ones carry their fault at the very end, so the
// whole megabyte is read before the verdict.
func hostileShapes() []struct{ name, payload, reason string } {
	fill := func(unit string) string { return strings.Repeat(unit, hostileSize/len(unit)) }
	half := hostileSize / 2
	nest := strings.Repeat("[", 62) + strings.Repeat("]", 62) // 64 levels with the root and its array
	// A valid event of many ordinary records, the yardstick.
	var valid strings.Builder
	valid.WriteString(`{"id":"E-1","payer":{"name":"Acme GmbH"},"lines":[`)
	for i := 0; valid.Len() < hostileSize-200; i++ {
		if i > 0 {
			valid.WriteByte(',')
		}
		valid.WriteString(`{"sku":"SKU-` + strconv.Itoa(i) + `","quantity":2,"unit_price":10.5,"text":"Schrauben M8 \u00fc verzinkt","ok":true}`)
	}
	valid.WriteString(`]}`)
	var keys strings.Builder
	keys.WriteString(`{`)
	for i := 0; keys.Len() < hostileSize-20; i++ {
		if i > 0 {
			keys.WriteByte(',')
		}
		keys.WriteString(`"k` + strconv.Itoa(i) + `":0`)
	}
	keys.WriteString(`}`)
	var names strings.Builder
	names.WriteString(`{`)
	for i := 0; names.Len() < hostileSize-300; i++ {
		if i > 0 {
			names.WriteByte(',')
		}
		n := strconv.Itoa(i)
		names.WriteString(`"` + strings.Repeat("n", 250-len(n)) + n + `":1`)
	}
	names.WriteString(`}`)
	// Strings of 60 KiB (under the default limit) up to a megabyte, the
	// last with its fault at its end.
	chunk := `"` + strings.Repeat("x", 60<<10) + `"`
	strs := func(last string) string {
		n := (hostileSize - len(last)) / (len(chunk) + 1)
		return `{"a":[` + strings.Repeat(chunk+",", n) + last + `]}`
	}
	return []struct{ name, payload, reason string }{
		{"valid event", valid.String(), ""},
		{"deep arrays", strings.Repeat("[", half) + strings.Repeat("]", half), bridge.ReasonTooLarge},
		{"deep arrays to the limit, repeated", `{"a":[` + strings.Repeat(nest+",", hostileSize/(len(nest)+1)-1) + nest + `]}`, ""},
		{"deep objects", strings.Repeat(`{"a":`, hostileSize/6) + "1" + strings.Repeat("}", hostileSize/6), bridge.ReasonTooLarge},
		{"long string", `{"s":"` + fill("x") + `"}`, bridge.ReasonTooLarge},
		{"strings at the limit", strs(`"ok"`), ""},
		{"invalid UTF-8 at the end", strs("\"bad \xff\""), bridge.ReasonMalformed},
		{"lone surrogate at the end", strs(`"bad \ud800"`), bridge.ReasonMalformed},
		{"escapes, lone surrogate at the end", `["` + fill(`\u00e9`) + `\udc00"]`, bridge.ReasonTooLarge},
		{"huge number", `[` + fill("7") + `]`, bridge.ReasonTooLarge},
		{"many keys", keys.String(), ""},
		{"many keys, one repeated at the end", keys.String()[:keys.Len()-1] + `,"k0":1}`, bridge.ReasonMalformed},
		{"long member name", `{"` + fill("n") + `":1}`, bridge.ReasonTooLarge},
		{"many long member names", names.String(), ""},
	}
}

// TestHostileShapesDecided: every shape gets its verdict (the benchmark
// times them; this pins what they are).
func TestHostileShapesDecided(t *testing.T) {
	st := hostileStage(t)
	for _, sh := range hostileShapes() {
		err := st.Process(context.Background(), envelope("bank-a", "open.event", sh.payload))
		if got := reasonOf(err); (sh.reason == "" && err != nil) || (sh.reason != "" && got != sh.reason) {
			t.Errorf("%s (%d bytes): %v, want %q", sh.name, len(sh.payload), err, sh.reason)
		}
	}
}

func hostileStage(t testing.TB) *Stage {
	p := openPartner()
	p.MaxMessageBytes = 2 * hostileSize
	return openStage(t, testConfig(p))
}

// BenchmarkHostile runs each shape through the stage; MB/s per core is
// the figure to compare: no hostile shape may be slower per byte than the
// valid event of the same size. MB/cpu-s is the same per CPU second of
// the process, the steadier figure on a machine shared with other work.
// The first line is the yardstick a partner really sends, a 1 KB payment
// through its schema and masking; the shapes go through an open schema
// without masking, since most are refused before either.
//
//	go test -run '^$' -bench BenchmarkHostile -cpu 1 ./bridge/validate/
func BenchmarkHostile(b *testing.B) {
	b.Run("valid payment 1 KB, schema and masking", func(b *testing.B) {
		benchStage(b, newStage(b, testConfig(bank())), "payment.received", benchEvent)
	})
	st := hostileStage(b)
	for _, sh := range hostileShapes() {
		b.Run(strings.ReplaceAll(sh.name, " ", "_"), func(b *testing.B) {
			benchStage(b, st, "open.event", sh.payload)
		})
	}
}

func benchStage(b *testing.B, st *Stage, eventType, payload string) {
	data := []byte(payload)
	h := map[string]string{"Event-Type": eventType}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		env := bridge.Envelope{Partner: "bank-a", Headers: h, Payload: data}
		_ = st.Process(context.Background(), &env)
	}
	if cpu := cpuTime() - cpu; cpu > 0 {
		b.ReportMetric(float64(len(data))*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}
