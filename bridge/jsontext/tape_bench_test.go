package jsontext

import (
	"strconv"
	"strings"
	"testing"
)

// BenchmarkTapeRead is the reader alone on a megabyte of each density of
// tokens: ordinary records (about one token per ten bytes), many small
// members (one per five) and arrays nested to the default depth, repeated
// (one per two), the densest text the limits let through. The reader's
// cost is per token, so MB/s falls with density.
//
//	go test -run '^$' -bench BenchmarkTapeRead -cpu 1 ./bridge/jsontext/
func BenchmarkTapeRead(b *testing.B) {
	const size = 1 << 20
	var records, keys strings.Builder
	records.WriteString(`{"lines":[`)
	for i := 0; records.Len() < size-200; i++ {
		if i > 0 {
			records.WriteByte(',')
		}
		records.WriteString(`{"sku":"SKU-` + strconv.Itoa(i) + `","quantity":2,"unit_price":10.5,"text":"Schrauben M8 verzinkt","ok":true}`)
	}
	records.WriteString(`]}`)
	keys.WriteString(`{`)
	for i := 0; keys.Len() < size-20; i++ {
		if i > 0 {
			keys.WriteByte(',')
		}
		keys.WriteString(`"k` + strconv.Itoa(i) + `":0`)
	}
	keys.WriteString(`}`)
	nest := strings.Repeat("[", 62) + strings.Repeat("]", 62)
	deep := `{"a":[` + strings.Repeat(nest+",", size/(len(nest)+1)-1) + nest + `]}`
	for _, c := range []struct{ name, text string }{
		{"records", records.String()}, {"many keys", keys.String()}, {"nested 64, repeated", deep},
	} {
		b.Run(strings.ReplaceAll(c.name, " ", "_"), func(b *testing.B) {
			data := []byte(c.text)
			var r TapeReader
			b.SetBytes(int64(len(data)))
			var toks int
			for b.Loop() {
				tp, err := r.Read(data)
				if err != nil {
					b.Fatal(err)
				}
				toks = len(tp.toks)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(toks), "ns/token")
		})
	}
}
