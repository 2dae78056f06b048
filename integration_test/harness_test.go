// Package integration_test runs the bridge end to end against real brokers:
// embedded nats-server instances (JetStream), kfake Kafka clusters, the
// RabbitMQ started by deploy/dev/brokers.sh and, for tests that stop a
// RabbitMQ, a private node each (amqptest.StartNode). Each test uses its
// own servers, streams, queues and exchanges, and never stops, restarts or
// cuts a broker it did not start.
package integration_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/config"

	// The connectors the tests run: each registers itself.
	_ "github.com/dmzbridge/dmzbridge/connectors/amqp"
	_ "github.com/dmzbridge/dmzbridge/connectors/kafka"
	_ "github.com/dmzbridge/dmzbridge/connectors/nats"
)

const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

// missingBroker fails under CI and skips elsewhere: CI must never go green
// because a broker was absent.
func missingBroker(t testing.TB, what string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s is not reachable (%v); run deploy/dev/brokers.sh", what, err)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// requireRabbit returns a connection to the local RabbitMQ.
func requireRabbit(t testing.TB) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		missingBroker(t, "RabbitMQ at 127.0.0.1:5672", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// natsServer is an embedded nats-server owned by one test; see
// bridgetest.NATS. It keeps its port and store across stop and start.
type natsServer struct{ *bridgetest.NATS }

// startNATS starts a JetStream server with its store in dir (a temp dir
// when dir is empty).
func startNATS(t testing.TB, dir string) *natsServer {
	t.Helper()
	return &natsServer{bridgetest.StartNATS(t, &server.Options{JetStream: true, StoreDir: dir})}
}

// stoppedNATS prepares a JetStream server on a fixed port without starting
// it, so a config can name it before it exists (an ERP that is down).
func stoppedNATS(t testing.TB) *natsServer {
	t.Helper()
	return &natsServer{bridgetest.NewNATS(t, nil)}
}

func (n *natsServer) start(t testing.TB) { t.Helper(); n.Start(t) }
func (n *natsServer) stop()              { n.Stop() }
func (n *natsServer) url() string        { return n.URL() }

func (n *natsServer) js(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return n.JetStream(t)
}

func createStream(t testing.TB, js jetstream.JetStream, name string, subjects ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects, Storage: jetstream.FileStorage}); err != nil {
		t.Fatalf("create stream %s: %v", name, err)
	}
}

// bridgeYAML returns a config for a bridge with an embedded JetStream in
// storeDir, the given ERP sink block and partner blocks (already indented
// as list items).
func bridgeYAML(storeDir string, port int, erp string, partners ...string) string {
	return fmt.Sprintf(`environment: test
jetstream:
  embedded: true
  store_dir: %s
  listen: 127.0.0.1:%d
forward:
  retry_delay: 200ms
admin:
  listen: 127.0.0.1:0
erp:
%s
partners:
%s
`, storeDir, port, indent(erp, "  "), strings.Join(partners, "\n"))
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n")
}

// runningBridge is a bridge started in-process by a test.
type runningBridge struct {
	b    *app.Bridge
	stop context.CancelFunc
	done chan error
}

func startBridge(t testing.TB, yaml string, opts app.Options) *runningBridge {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := app.Start(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatalf("start bridge: %v", err)
	}
	rb := &runningBridge{b: b, stop: cancel, done: make(chan error, 1)}
	go func() { rb.done <- b.Run(ctx) }()
	t.Cleanup(rb.shutdown)
	return rb
}

// shutdown stops the bridge gracefully; safe to call twice.
func (rb *runningBridge) shutdown() {
	if rb.stop == nil {
		return
	}
	rb.stop()
	<-rb.done
	rb.b.Close()
	rb.stop = nil
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("DMZ_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last state: %s", d, what, last)
}
