package kafka

import (
	"github.com/dmzbridge/dmzbridge/bridge"

	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	kafkago "github.com/segmentio/kafka-go"
)

// FuzzEnvelopeHeaders: whatever headers and key a partner sends, the
// envelope's headers are printable (nothing that could forge a NATS
// header line), the id is never empty and the Kafka metadata headers are
// the source's, not the partner's.
func FuzzEnvelopeHeaders(f *testing.F) {
	f.Add("traceparent", []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), []byte("k"), "X-Id")
	f.Add("X-Id", []byte("a\r\nDmz-Partner: evil"), []byte{0xff}, "X-Id")
	f.Add("Kafka-Offset", []byte("999"), []byte("line\nbreak"), "")
	f.Add("bad:key", []byte{}, []byte(nil), "bad:key")
	f.Fuzz(func(t *testing.T, key string, value, recordKey []byte, idHeader string) {
		s := newTestSource(t, "brokers: [k:9092]\ntopic: t\n")
		s.opts.IDHeader = idHeader
		m := kafkago.Message{Topic: "t", Partition: 1, Offset: 7, Key: recordKey, Value: []byte("{}"),
			Headers: []kafkago.Header{{Key: key, Value: value}}}
		env := s.envelope(m)
		if env.ID == "" || strings.IndexFunc(env.ID, unicode.IsControl) >= 0 {
			t.Fatalf("id %q", env.ID)
		}
		for k, v := range env.Headers {
			if !bridge.ValidHeaderKey(k) {
				t.Fatalf("header key %q", k)
			}
			if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
				t.Fatalf("header %s value %q", k, v)
			}
		}
		if env.Headers[HeaderOffset] != "7" || env.Headers[HeaderPartition] != "1" || env.Headers[HeaderTopic] != "t" {
			t.Fatalf("metadata headers overridden: %v", env.Headers)
		}
	})
}
