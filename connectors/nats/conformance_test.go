package nats

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/connectors/conformance"
)

const conformanceWindow = 16

// jsHarness runs the conformance suite against an embedded nats-server with
// JetStream that belongs to the subtest alone; Disconnect restarts it on
// the same port and store.
type jsHarness struct {
	*bridgetest.NATS
	js jetstream.JetStream
}

func newJSHarness(t *testing.T) conformance.Harness {
	h := &jsHarness{NATS: bridgetest.StartNATS(t, nil)}
	_, h.js = h.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.js.CreateStream(ctx, jetstream.StreamConfig{Name: "PARTNER", Subjects: []string{"partner.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *jsHarness) Source(t testing.TB) bridge.Source {
	// ack_wait is short because a pull request still open at the server
	// when a source stops can take a message that is then redelivered
	// only after ack_wait (seen in ResumesAfterClose with the 30s default).
	doc := fmt.Sprintf("url: %s\nsubject: partner.>\nstream: PARTNER\nmax_in_flight: %d\nack_wait: 5s\n", h.URL(), conformanceWindow)
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &node); err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(node.Content[0], bridge.SourceSpec{Partner: "conformance", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func (h *jsHarness) Publish(t testing.TB, msgs []conformance.Message) {
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range msgs {
		msg := nats.NewMsg("partner.event")
		msg.Header.Set(nats.MsgIdHdr, m.ID)
		for k, v := range m.Headers {
			msg.Header.Set(k, v)
		}
		msg.Data = m.Body
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := h.js.PublishMsg(ctx, msg)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v", m.ID, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func (h *jsHarness) Disconnect(t testing.TB) {
	h.Stop()
	h.Start(t)
}

func TestConformanceJetStream(t *testing.T) {
	conformance.Run(t, conformance.Features{
		Ordered:           true,
		RedeliversOnNack:  true,
		ResumesAfterClose: true,
		Reconnects:        true,
		Window:            conformanceWindow,
	}, newJSHarness)
}
