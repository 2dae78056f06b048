package store

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"

	"github.com/dmzbridge/dmzbridge/bridge/seal"
)

func testRing(t *testing.T) *seal.Keyring {
	t.Helper()
	k, err := seal.NewKey(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return seal.NewKeyring(k)
}

func TestSealEntryRoundTrip(t *testing.T) {
	k := testRing(t)
	topo := NewTopology("SEALRT")
	undo := SealDeadLetters(topo, k)
	defer undo()
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		payload string
		detail  string
	}{
		{"payload, headers and detail", map[string]string{"X-Mail": "ada@example.com", "X-Ref": "r1", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, `{"iban":"DE89370400440532013000"}`, "bad iban DE89370400440532013000"},
		{"empty payload, no headers, no detail", map[string]string{}, "", ""},
		{"binary payload", map[string]string{"K": ""}, "\x00\xff\x10", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := &bridge.Envelope{ID: "e-1", Partner: "bank-a", Source: "nats", EventType: "t", ReceivedAt: at, Headers: tc.headers, Payload: []byte(tc.payload)}
			clear := DeadLetterEntry("other.dlq.bank-a", env, Failure{Rejection: bridge.Reject(bridge.ReasonMalformed, "%s", tc.detail), Last: at})
			m := DeadLetterEntry(topo.DeadLetterSubject("bank-a"), env, Failure{Rejection: bridge.Reject(bridge.ReasonMalformed, "%s", tc.detail), Last: at})
			if IsSealed(clear.Header) || !IsSealed(m.Header) {
				t.Fatalf("sealing follows the topology: clear %v, sealed %v", IsSealed(clear.Header), IsSealed(m.Header))
			}
			for name, vs := range m.Header {
				if strings.HasPrefix(name, partnerHeaderPrefix) || name == bridge.HeaderError {
					t.Errorf("sealed entry keeps %s in clear", name)
				}
				for _, v := range vs {
					if strings.Contains(v, "DE89") || strings.Contains(v, "ada@") {
						t.Errorf("header %s holds a personal value: %q", name, v)
					}
				}
			}
			if m.Header.Get(bridge.HeaderSize) != strconv.Itoa(len(tc.payload)) || m.Header.Get(bridge.HeaderPayloadSHA256) != bridge.PayloadDigest([]byte(tc.payload)) {
				t.Errorf("size %q sha %q", m.Header.Get(bridge.HeaderSize), m.Header.Get(bridge.HeaderPayloadSHA256))
			}
			h, data, err := OpenEntry(m.Header, m.Data, k)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, clear.Data) {
				t.Fatalf("payload %q, want %q", data, clear.Data)
			}
			for name := range clear.Header {
				if name == bridge.HeaderMsgID {
					continue
				}
				if h.Get(name) != clear.Header.Get(name) {
					t.Errorf("%s: %q, want %q", name, h.Get(name), clear.Header.Get(name))
				}
			}
			for _, name := range []string{bridge.HeaderSealKey, bridge.HeaderSize, bridge.HeaderPayloadSHA256} {
				if h.Get(name) != "" {
					t.Errorf("opened entry keeps %s", name)
				}
			}
			// Resealing keeps the entry; without a key it fails.
			r, err := ResealEntry(m.Header, m.Data, k)
			if err != nil {
				t.Fatal(err)
			}
			if _, d2, err := OpenEntry(r.Header, r.Data, k); err != nil || !bytes.Equal(d2, clear.Data) {
				t.Fatalf("resealed: %q %v", d2, err)
			}
			if _, _, err := OpenEntry(m.Header, m.Data, nil); !errors.Is(err, seal.ErrNoKey) {
				t.Fatalf("no key: %v", err)
			}
		})
	}
}
