// Package store is the bridge's storage step: everything that talks to
// JetStream about stored events. It starts the embedded server or connects
// to an external one, declares the streams (Topology), encodes envelopes
// as stored messages and dead-letter entries (codec, sealing), and writes
// them (msgWriter, and batchWriter's group commit under fsync).
//
// The connection and the writers share one package because every writer
// and every reader (forward, dlq, audit, telemetry) needs the same
// topology and codec; split apart, each would import the other.
//
// A partner's broker is acknowledged only once JetStream holds the event:
// a writer's done callback fires after the PubAck. Under fsync and
// replication the batchWriter gathers each stream's messages into
// JetStream atomic batches so one fsync covers a batch, and falls back to
// publishing one by one with the same Nats-Msg-Id when a batch fails, so a
// batch that was in fact committed is not stored twice.
package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Embedded is an in-process nats-server with JetStream.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts the server on cfg.Listen with its file store in
// cfg.StoreDir. Under durability fsync every write is flushed to disk
// before it is acknowledged (sync_interval: always).
func StartEmbedded(cfg config.JetStream, log *slog.Logger) (*Embedded, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("jetstream.listen %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("jetstream.listen %q: port: %w", cfg.Listen, err)
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("jetstream.store_dir: %w", err)
	}
	opts := &server.Options{
		ServerName: "dmzbridge-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		SyncAlways: cfg.Durability == config.DurabilityFsync,
		MaxPayload: 8 << 20,
		// Some filesystems (FUSE ones among them) report no free space;
		// an explicit cap keeps JetStream from refusing every stream.
		JetStreamMaxStore: cfg.MaxStore,
	}
	if cfg.User != "" {
		opts.Username, opts.Password = cfg.User, cfg.Password
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats-server on %s did not become ready (is the port in use?)", cfg.Listen)
	}
	log.Info("embedded JetStream started", "listen", srv.ClientURL(), "store_dir", cfg.StoreDir, "durability", cfg.Durability)
	return &Embedded{srv: srv}, nil
}

// URL is the client URL of the embedded server.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// MaxStore is the file storage JetStream may use on this server: the
// configured max_store, or what the server sized from the disk's free
// space. 0 when JetStream is not running.
func (e *Embedded) MaxStore() int64 {
	if c := e.srv.JetStreamConfig(); c != nil {
		return c.MaxStore
	}
	return 0
}

// Shutdown stops the server and waits until its store is closed.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// ConnectOptions are how the bridge reaches NATS.
func ConnectOptions(name string, cfg config.JetStream, log *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		// A server that is down at startup is retried, not a crash loop.
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed on purpose
				log.Warn("NATS connection lost", "name", name, "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("NATS connection restored", "name", name, "url", c.ConnectedUrlRedacted())
		}),
	}
	if cfg.Credentials != "" {
		opts = append(opts, nats.UserCredentials(cfg.Credentials))
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.TLS.Enabled() {
		tc, err := ClientTLS(cfg.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

// Connect dials NATS; with RetryOnFailedConnect it returns at once and keeps
// trying in the background when the server is not up yet.
func Connect(ctx context.Context, servers, name string, cfg config.JetStream, log *slog.Logger) (*nats.Conn, error) {
	opts, err := ConnectOptions(name, cfg, log)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(servers, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", Redact(servers), err)
	}
	return nc, nil
}

// ClientTLS builds a client TLS config from files.
func ClientTLS(t config.TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca: %s holds no PEM certificate", t.CA)
		}
		tc.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.cert/tls.key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Redact hides credentials embedded in a URL (or a comma-separated list of
// URLs) before it is logged.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		if _, hasPassword := u.User.Password(); !hasPassword {
			// nats://TOKEN@host: a lone user part is NATS token auth, a secret.
			u.User = url.User("redacted")
			parts[i] = u.String()
			continue
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}
