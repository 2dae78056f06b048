// Package nats connects partners' NATS subjects (core NATS or JetStream) to
// the bridge and publishes normalized events to an ERP subject.
package nats

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Endpoint is how a connector reaches one NATS server or cluster, with its
// own identity: every partner has its own credentials.
type Endpoint struct {
	URL         string     `yaml:"url"`
	Credentials string     `yaml:"credentials"`
	User        string     `yaml:"user"`
	Password    string     `yaml:"password"`
	TLS         config.TLS `yaml:"tls"`
}

func (e Endpoint) validate(errs *config.FieldErrors) {
	if e.URL == "" {
		errs.Add("url", "required")
	}
	if e.Credentials != "" && e.User != "" {
		errs.Add("user", "set either credentials or user/password, not both")
	}
	errs.Merge("tls", e.TLS.Validate())
}

func (e Endpoint) dial(name string, log *slog.Logger) (*nats.Conn, error) {
	opts, err := store.ConnectOptions(name, config.JetStream{
		Credentials: e.Credentials, User: e.User, Password: e.Password, TLS: e.TLS,
	}, log)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.Timeout(5*time.Second))
	nc, err := nats.Connect(e.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", store.Redact(e.URL), err)
	}
	return nc, nil
}
