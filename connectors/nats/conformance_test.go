package nats

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/connectors/conformance"
)

const conformanceWindow = 16

// jsHarness runs the conformance suite against an embedded nats-server with
// JetStream that belongs to the subtest alone; Disconnect restarts it on
// the same port and store.
type jsHarness struct {
	opts *server.Options
	srv  *server.Server
	js   jetstream.JetStream
}

func newJSHarness(t *testing.T) conformance.Harness {
	h := startJS(t)
	createStream(t, h.js, jetstream.StreamConfig{Name: "PARTNER", Subjects: []string{"partner.>"}, Storage: jetstream.FileStorage})
	return h
}

// startJS starts an embedded nats-server with JetStream for the test alone
// and connects a client that reconnects across restarts.
func startJS(t *testing.T) *jsHarness {
	h := &jsHarness{opts: &server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
	}}
	h.start(t)
	t.Cleanup(h.stop)
	nc, err := nats.Connect(h.url(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if h.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return h
}

func createStream(t *testing.T, js jetstream.JetStream, cfg jetstream.StreamConfig) jetstream.Stream {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (h *jsHarness) start(t testing.TB) {
	srv, err := server.NewServer(h.opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	h.opts.Port = srv.Addr().(*net.TCPAddr).Port
	h.srv = srv
}

func (h *jsHarness) stop() {
	if h.srv != nil {
		h.srv.Shutdown()
		h.srv.WaitForShutdown()
		h.srv = nil
	}
}

func (h *jsHarness) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", h.opts.Port) }

func (h *jsHarness) Source(t testing.TB) bridge.Source {
	// ack_wait is short because a pull request still open at the server
	// when a source stops can take a message that is then redelivered
	// only after ack_wait (seen in ResumesAfterClose with the 30s default).
	doc := fmt.Sprintf("url: %s\nsubject: partner.>\nstream: PARTNER\nmax_in_flight: %d\nack_wait: 5s\n", h.url(), conformanceWindow)
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
	h.stop()
	h.start(t)
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
