package nats

import (
	"testing"

	"github.com/nats-io/nats.go"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
)

// TestEnvelopeIDs: the partner's message id is Nats-Msg-Id, else the
// id_header; without either the source gives none and the bridge's
// fallback id (stream sequence or content hash) is chosen later. A
// partner cannot set the partner-message-id header itself.
func TestEnvelopeIDs(t *testing.T) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("url: nats://127.0.0.1:1\nsubject: p.>\nid_header: X-Id\n"), &node); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(node.Content[0], bridge.SourceSpec{Partner: "p"})
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	for _, tc := range []struct {
		name string
		h    nats.Header
		want string
	}{
		{"msg id", nats.Header{nats.MsgIdHdr: {"m-1"}, "X-Id": {"h-1"}}, "m-1"},
		{"id header", nats.Header{"X-Id": {"h-2"}}, "h-2"},
		{"none", nats.Header{}, ""},
		{"forged", nats.Header{bridge.HeaderPartnerMessageID: {"forged"}}, ""},
		{"forged with id", nats.Header{nats.MsgIdHdr: {"m-3"}, bridge.HeaderPartnerMessageID: {"forged"}}, "m-3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := s.envelope("p.x", tc.h, []byte("{}"))
			if env.ID != tc.want || env.Headers[bridge.HeaderPartnerMessageID] != tc.want {
				t.Fatalf("id %q, partner message id %q, want %q", env.ID, env.Headers[bridge.HeaderPartnerMessageID], tc.want)
			}
		})
	}
}
