package nats

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/connectors/conformance"
)

// sinkHarness is an embedded JetStream server of the subtest alone with a
// stream capturing erp.>; lost.> is captured by nothing. Disconnect
// restarts the server on the same port and store.
type sinkHarness struct {
	*jsHarness
	next uint64 // the next stream sequence Stored returns
}

func newSinkHarness(t *testing.T) conformance.SinkHarness {
	h := &sinkHarness{jsHarness: startJS(t), next: 1}
	createStream(t, h.js, jetstream.StreamConfig{Name: "ERP", Subjects: []string{"erp.>"}, Storage: jetstream.FileStorage})
	return h
}

func (h *sinkHarness) newSink(t testing.TB, subject string) bridge.Sink {
	var node yaml.Node
	doc := fmt.Sprintf("url: %s\nsubject: %s\njetstream: true\ntimeout: 5s\n", h.url(), subject)
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	s, err := NewSink(node.Content[0], bridge.SinkSpec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (h *sinkHarness) Sink(t testing.TB) bridge.Sink { return h.newSink(t, "erp.{partner}.{type}") }
func (h *sinkHarness) UnroutableSink(t testing.TB) bridge.Sink {
	return h.newSink(t, "lost.{partner}.{type}")
}

func (h *sinkHarness) Stored(t testing.TB) []conformance.Received {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The harness's own client may still be reconnecting after a restart.
	for h.js.Conn().Status() != nats.CONNECTED {
		if !bridge.Sleep(ctx, 20*time.Millisecond) {
			t.Fatalf("harness client is %v", h.js.Conn().Status())
		}
	}
	st, err := h.js.Stream(ctx, "ERP")
	if err != nil {
		t.Fatal(err)
	}
	var out []conformance.Received
	for ; ; h.next++ {
		m, err := st.GetMsg(ctx, h.next)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatalf("get ERP message %d: %v", h.next, err)
		}
		out = append(out, conformance.Received{ID: m.Header.Get(nats.MsgIdHdr), Body: m.Data, ContentType: m.Header.Get("content-type")})
	}
}

func (h *sinkHarness) Disconnect(t testing.TB, _ bridge.Sink) {
	h.stop() // closes every client connection before it returns
	h.start(t)
}

func TestSinkConformanceJetStream(t *testing.T) {
	conformance.RunSink(t, conformance.SinkFeatures{
		ConfirmedBeforeReturn: true,
		UnroutableFails:       true,
		Reconnects:            true,
	}, newSinkHarness)
}
