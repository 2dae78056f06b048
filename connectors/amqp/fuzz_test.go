package amqp

import (
	"github.com/dmzbridge/dmzbridge/bridge"

	"strings"
	"testing"
	"unicode"

	amqp "github.com/rabbitmq/amqp091-go"
)

// FuzzEnvelope: whatever a partner puts in properties and headers, the
// envelope has an id, keeps the partner identity, and carries no control
// character or invalid key into the stored headers.
func FuzzEnvelope(f *testing.F) {
	f.Add("m-1", "", "k", "v", []byte("{}"), "order.created")
	f.Add("", "h-1", "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", []byte("x"), "")
	f.Add("a\r\nb", "\x00", "bad key", "line\nbreak", []byte{}, "t\ty")
	f.Add("", "", "Dmz-Partner", "other", []byte("payload"), "")
	src, err := decodeSource(&testing.T{}, "url: amqp://h/\nexchange: x\nid_header: X-Id\n")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msgID, idHeader, key, value string, body []byte, typ string) {
		env := src.envelope(amqp.Delivery{
			MessageId: msgID, Type: typ, Body: body,
			Headers: amqp.Table{"X-Id": idHeader, key: value},
		})
		if env.ID == "" {
			t.Fatal("empty id")
		}
		if env.Partner != "bank-a" {
			t.Fatalf("partner %q", env.Partner)
		}
		bad := func(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }
		if bad(env.ID) || bad(env.EventType) {
			t.Fatalf("control character in id %q or type %q", env.ID, env.EventType)
		}
		for k, v := range env.Headers {
			if !bridge.ValidHeaderKey(k) || bad(v) {
				t.Fatalf("header %q: %q", k, v)
			}
		}
	})
}
