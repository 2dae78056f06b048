package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// defaultPurgeInterval applies when Forward.PurgeInterval is unset.
const defaultPurgeInterval = time.Second

// compactor removes a partner's ERP-confirmed events from the ingest
// stream. The stream keeps limits retention rather than being a work
// queue: on a work queue every acknowledgement deletes its message on its
// own, and under sync_interval: always each deletion is a synchronous disk
// write, which capped the forwarder near 2,000 events/s. A purge up to the
// consumer's ack floor removes everything confirmed so far with one write.
//
// Everything at or below the ack floor is confirmed, so nothing the ERP
// has not confirmed is ever purged. Confirmed events above the floor (acked
// out of order while an older one waits for its retry) stay until the floor
// passes them.
type compactor struct {
	stream   jetstream.Stream
	cons     jetstream.Consumer
	subject  string
	interval time.Duration
	log      *slog.Logger
	// purgedTo is the highest stream sequence already purged.
	purgedTo uint64
}

func newCompactor(stream jetstream.Stream, cons jetstream.Consumer, subject string, interval time.Duration, log *slog.Logger) *compactor {
	if interval <= 0 {
		interval = defaultPurgeInterval
	}
	return &compactor{stream: stream, cons: cons, subject: subject, interval: interval, log: log}
}

// run purges every interval until ctx ends, then once more so a clean
// shutdown leaves only unconfirmed events behind.
func (c *compactor) run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := c.purge(fctx); err != nil {
				c.log.Debug("final purge of confirmed events", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := c.purge(ctx); err != nil && ctx.Err() == nil {
				// Confirmed events stay a little longer; the next tick retries.
				c.log.Debug("purge of confirmed events", "err", err)
			}
		}
	}
}

// purge drops the partner's events up to the consumer's ack floor.
func (c *compactor) purge(ctx context.Context) error {
	info, err := c.cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer info: %w", err)
	}
	return c.purgeTo(ctx, info.AckFloor.Stream)
}

func (c *compactor) purgeTo(ctx context.Context, floor uint64) error {
	if floor <= c.purgedTo {
		return nil
	}
	err := c.stream.Purge(ctx, jetstream.WithPurgeSubject(c.subject), jetstream.WithPurgeSequence(floor+1))
	if err != nil {
		return fmt.Errorf("purge %s up to %d: %w", c.subject, floor, err)
	}
	c.purgedTo = floor
	return nil
}

// purgeConfirmed drops what a previous forwarder consumer had confirmed,
// before that consumer is replaced by a fresh one that starts from the
// first stored event: otherwise the new consumer would forward those
// events to the ERP a second time.
func purgeConfirmed(ctx context.Context, js jetstream.JetStream, streamName, consumer, subject string) error {
	cons, err := js.Consumer(ctx, streamName, consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up forwarder consumer: %w", err)
	}
	st, err := js.Stream(ctx, streamName)
	if err != nil {
		return fmt.Errorf("look up ingest stream: %w", err)
	}
	c := &compactor{stream: st, cons: cons, subject: subject}
	return c.purge(ctx)
}
