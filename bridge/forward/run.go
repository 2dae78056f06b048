package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/store"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Config is what one partner's forwarder needs from the bridge that runs it.
type Config struct {
	JS        jetstream.JetStream
	Topology  store.Topology
	JetStream config.JetStream
	Forward   config.Forward
	// Retry is the partner's retry settings.
	Retry config.Retry
	// SoleConsumer: this process alone forwards from the ingest stream
	// (embedded JetStream); see ensureConsumer.
	SoleConsumer bool
	Sink         bridge.Sink
	Normalize    bridge.Normalizer
	Observer     bridge.Observer
	Logger       *slog.Logger
	Now          func() time.Time
	States       *States
}

// Run sets up one partner's consumer and compactor and forwards until ctx
// ends.
func Run(ctx context.Context, c Config, partner string) {
	log := c.Logger.With("partner", partner)
	states := c.States
	streamName := c.Topology.IngestStream()
	cc := c.Topology.ForwarderConsumerConfig(partner, c.Forward)
	var (
		cons  jetstream.Consumer
		floor uint64
	)
	err := bridge.Retry(ctx, log, "create forwarder consumer", func(ctx context.Context) error {
		var err error
		if cons, floor, err = ensureConsumer(ctx, c, cc); err != nil {
			states.set(partner, bridge.StateDown, err)
		}
		return err
	})
	if err != nil {
		return
	}
	var stream jetstream.Stream
	err = bridge.Retry(ctx, log, "look up ingest stream", func(ctx context.Context) error {
		var err error
		stream, err = c.JS.Stream(ctx, streamName)
		return err
	})
	if err != nil {
		return
	}
	prog := newProgress(floor)
	comp := newCompactor(stream, cons, c.Topology.IngestSubject(partner), c.Forward.PurgeInterval, log)
	comp.window, comp.maxBytes, comp.progress = c.JetStream.DuplicateWindow, c.JetStream.Ingest.MaxBytes, prog
	compDone := make(chan struct{})
	compCtx, stopCompactor := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(compDone)
		comp.run(compCtx)
	}()
	// The compactor stops after the forwarder, so its final purge covers
	// the forwarder's last acknowledgements.
	defer func() {
		stopCompactor()
		<-compDone
	}()
	f := &forwarder{
		partner: partner, js: c.JS, stream: streamName, cfg: cc, cons: cons, states: states, progress: prog,
		sink: c.Sink, normalize: c.Normalize,
		batchSize: c.Forward.BatchSize, retryDelay: c.Forward.RetryDelay,
		retry:   newRetryPolicy(c.Retry),
		ackWait: c.Forward.AckWait, obs: c.Observer, log: log, now: c.Now,
		deadLetter: func(ctx context.Context, env *bridge.Envelope, fl store.Failure) error {
			return deadLetter(ctx, c, env, fl)
		},
		firstFailure: map[uint64]time.Time{},
	}
	f.run(ctx)
}

// ensureConsumer creates or updates the partner's forwarder consumer and
// returns it with the ack floor it starts from. With SoleConsumer it
// starts afresh after the old floor, so unconfirmed events are handed out
// at once and in order instead of after AckWait behind newer ones (events
// confirmed out of order above the floor reach the ERP again, same id).
// Otherwise an existing consumer keeps its start, which JetStream cannot
// update.
func ensureConsumer(ctx context.Context, c Config, cc jetstream.ConsumerConfig) (jetstream.Consumer, uint64, error) {
	js, streamName := c.JS, c.Topology.IngestStream()
	floor, err := ackFloorOf(ctx, js, streamName, cc.Durable)
	if err != nil {
		return nil, 0, err
	}
	if c.SoleConsumer {
		err = js.DeleteConsumer(ctx, streamName, cc.Durable)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, 0, fmt.Errorf("reset forwarder consumer: %w", err)
		}
		start := uint64(0)
		if floor > 0 {
			start = floor + 1
		}
		cons, err := js.CreateOrUpdateConsumer(ctx, streamName, startingAt(cc, start))
		if err != nil {
			return nil, 0, fmt.Errorf("create forwarder consumer: %w", err)
		}
		return cons, floor, nil
	}
	if old, err := js.Consumer(ctx, streamName, cc.Durable); err == nil {
		oc := old.CachedInfo().Config
		cc.DeliverPolicy, cc.OptStartSeq = oc.DeliverPolicy, oc.OptStartSeq
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, streamName, cc)
	if err != nil {
		return nil, 0, fmt.Errorf("create forwarder consumer: %w", err)
	}
	return cons, floor, nil
}

// deadLetter stores an event the forwarder must give up on and reports
// whether it is durably in the dead-letter stream.
func deadLetter(ctx context.Context, c Config, env *bridge.Envelope, f store.Failure) error {
	msg := store.DeadLetterEntry(c.Topology.DeadLetterSubject(env.Partner), env, f)
	if _, err := c.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("dead-letter %s: %w", env.ID, err)
	}
	c.Observer.DeadLettered(env, f.Rejection)
	return nil
}
