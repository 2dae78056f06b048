// Package bridgetest holds test helpers shared by the bridge's packages,
// its connectors and the integration tests: an embedded nats-server, with
// or without JetStream, owned by one test. It imports no connector, so
// bridge tests may use it, and it is imported by tests only.
package bridgetest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is an embedded nats-server on 127.0.0.1 that belongs to one test.
// It keeps its port and store across Stop and Start, so a test can take
// it down and bring it back under its clients.
type NATS struct {
	Opts *server.Options
	srv  *server.Server
}

// NewNATS prepares a server without starting it, so a config can name a
// server that is down. A nil opts means JetStream; a JetStream server
// without a StoreDir gets one in the test's temp dir. Port 0 means a free
// port, chosen now. The server is stopped when the test ends.
func NewNATS(t testing.TB, opts *server.Options) *NATS {
	t.Helper()
	if opts == nil {
		opts = &server.Options{JetStream: true}
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = FreePort(t)
	}
	if opts.JetStream && opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	opts.NoSigs, opts.NoLog = true, true
	n := &NATS{Opts: opts}
	t.Cleanup(n.Stop)
	return n
}

// StartNATS prepares a server as NewNATS does and starts it.
func StartNATS(t testing.TB, opts *server.Options) *NATS {
	t.Helper()
	n := NewNATS(t, opts)
	n.Start(t)
	return n
}

// StartJetStream starts a JetStream server for the test and returns a
// client connected to it; both close when the test ends.
func StartJetStream(t testing.TB, opts ...jetstream.JetStreamOpt) (*NATS, jetstream.JetStream) {
	t.Helper()
	n := StartNATS(t, nil)
	_, js := n.JetStream(t, opts...)
	return n, js
}

// Start starts the server (again) and waits until it takes connections.
func (n *NATS) Start(t testing.TB) {
	t.Helper()
	if n.srv != nil {
		return
	}
	srv, err := server.NewServer(n.Opts)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		t.Fatal("nats-server not ready after 10s")
	}
	n.srv = srv
}

// Stop shuts the server down and waits until it is gone; its store stays.
func (n *NATS) Stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// Server is the running server, nil while stopped.
func (n *NATS) Server() *server.Server { return n.srv }

// URL is the server's client address.
func (n *NATS) URL() string { return fmt.Sprintf("nats://%s:%d", n.Opts.Host, n.Opts.Port) }

// Connect returns a client that reconnects without limit and is closed
// when the test ends.
func (n *NATS) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(n.URL(), opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", n.URL(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a new client connection and its JetStream context.
func (n *NATS) JetStream(t testing.TB, opts ...jetstream.JetStreamOpt) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := n.Connect(t)
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// FreePort is a loopback TCP port free at the time of the call, for a
// server a test starts (and may restart on the same port).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// JetStream starts a JetStream server for the test and returns only the
// client, for tests that never stop the server.
func JetStream(t testing.TB, opts ...jetstream.JetStreamOpt) jetstream.JetStream {
	t.Helper()
	_, js := StartJetStream(t, opts...)
	return js
}
