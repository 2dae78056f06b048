package amqp

import (
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// dial connects to url with cfg, using the client TLS settings for an
// amqps URL or a tls block. what names the broker in the error.
func dial(url string, t config.TLS, cfg amqp.Config, what string) (*amqp.Connection, error) {
	if t.Enabled() || strings.HasPrefix(url, "amqps://") {
		tc, err := store.ClientTLS(t)
		if err != nil {
			return nil, err
		}
		cfg.TLSClientConfig = tc
	}
	conn, err := amqp.DialConfig(url, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s%s: %w", what, redactURL(url), err)
	}
	return conn, nil
}

// redactURL is url without its password, for errors and logs.
func redactURL(u string) string {
	if uri, err := amqp.ParseURI(u); err == nil {
		uri.Password = "***"
		return uri.String()
	}
	return "(unparseable URL)"
}
