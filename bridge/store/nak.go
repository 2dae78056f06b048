package store

import (
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// NakInOrder gives messages back to JetStream in delivery order.
func NakInOrder(msgs []jetstream.Msg, log *slog.Logger) {
	for _, m := range msgs {
		if err := m.Nak(); err != nil {
			log.Debug("nak on stop failed; redelivered after ack wait", "err", err)
		}
	}
}
