package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/seal"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Target says which JetStream and dead-letter stream the operators'
// commands work on. Fields left empty come from Config, then from the
// environment (NATS_URL, NATS_PASSWORD), then from defaults.
type Target struct {
	// Config is the bridge's configuration, when given: address,
	// credentials, stream prefix and sealing keys.
	Config                        *config.Config
	Server, Creds, User, Password string
	Prefix                        string
	Timeout                       time.Duration
	// Getenv reads NATS_URL, NATS_PASSWORD and the sealing key variables;
	// nil is os.Getenv.
	Getenv func(string) string
	// Notice receives what the operator should know (an embedded store
	// opened directly); nil discards it.
	Notice io.Writer
}

// Session is an open connection to a bridge's dead-letter stream.
type Session struct {
	Config *config.Config
	Store  *Store
	nc     *nats.Conn
	emb    *store.Embedded
	// KeyErr: the configured sealing keys could not be loaded. list and
	// stats go on without them; commands that open entries stop.
	KeyErr error
}

// Close releases the connection and an embedded store opened by Connect.
func (s *Session) Close() {
	if s.nc != nil {
		s.nc.Close()
	}
	if s.emb != nil {
		s.emb.Shutdown()
	}
}

// NeedKey fails unless the configured sealing keys are loaded (or none is
// configured: a sealed entry then fails to open with a clear error).
func (s *Session) NeedKey() error {
	if s.KeyErr != nil {
		return fmt.Errorf("sealing key: %w", s.KeyErr)
	}
	return nil
}

// Connect opens the target's dead-letter stream. When the configuration
// uses the embedded server and no bridge is running, it opens the store
// itself on the bridge's own address, so a bridge started meanwhile fails
// to bind instead of sharing the store.
func Connect(ctx context.Context, t Target) (*Session, error) {
	getenv := t.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if t.Timeout <= 0 {
		t.Timeout = 10 * time.Second
	}
	s := &Session{Config: t.Config}
	var js config.JetStream
	prefix := "DMZ"
	if t.Config != nil {
		js = t.Config.JetStream
		prefix = js.StreamPrefix
	}
	server := t.Server
	switch {
	case server != "":
	case t.Config != nil && js.Embedded:
		server = "nats://" + js.Listen
	case t.Config != nil:
		server = js.URL
	case getenv("NATS_URL") != "":
		server = getenv("NATS_URL")
	default:
		server = "nats://127.0.0.1:14222"
	}
	if t.Prefix != "" {
		prefix = t.Prefix
	}
	if t.Creds != "" {
		js.Credentials, js.User, js.Password = t.Creds, "", ""
	}
	if t.User != "" {
		js.Credentials, js.User, js.Password = "", t.User, t.Password
		if js.Password == "" {
			js.Password = getenv("NATS_PASSWORD")
		}
	}
	nc, err := dial(server, js, t.Timeout)
	if err != nil && t.Config != nil && js.Embedded && t.Server == "" && errors.Is(err, nats.ErrNoServers) {
		emb, eerr := store.StartEmbedded(js, slog.New(slog.DiscardHandler))
		if eerr != nil {
			return nil, fmt.Errorf("JetStream at %s is not reachable (%v) and its embedded store cannot be opened: %w", store.Redact(server), err, eerr)
		}
		s.emb = emb
		if t.Notice != nil {
			fmt.Fprintf(t.Notice, "dmzbridge: no bridge is running; opened the embedded JetStream store %s directly\n", js.StoreDir)
		}
		nc, err = dial(emb.URL(), js, t.Timeout)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to JetStream at %s: %w", store.Redact(server), err)
	}
	s.nc = nc
	jsc, err := jetstream.New(nc, jetstream.WithDefaultTimeout(t.Timeout))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	s.Store = NewStore(jsc, store.NewTopology(prefix))
	if t.Config != nil {
		s.Store.Keys, s.KeyErr = seal.Load(t.Config.DeadLetter, getenv)
	}
	return s, nil
}

// dial connects with the bridge's own connection options (credentials,
// TLS) but fails fast instead of retrying in the background: the command
// reports an unreachable server, or opens the embedded store itself.
func dial(server string, js config.JetStream, timeout time.Duration) (*nats.Conn, error) {
	opts, err := store.ConnectOptions("dmzbridge dlq", js, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.Timeout(timeout), nats.MaxReconnects(2), nats.RetryOnFailedConnect(false))
	return nats.Connect(server, opts...)
}

// Conn is the session's NATS connection, for commands that read other
// streams of the bridge (the audit trail) over the same connection.
func (s *Session) Conn() *nats.Conn { return s.nc }
