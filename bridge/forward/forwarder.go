package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/store"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// forwarder moves one partner's stored events to the ERP sink. One per
// partner, each on its own durable consumer, so one partner's failures
// never stall another's flow.
type forwarder struct {
	partner string
	js      jetstream.JetStream
	stream  string
	// cfg is the consumer's configuration, for recreating it.
	cfg        jetstream.ConsumerConfig
	cons       jetstream.Consumer
	states     *States
	progress   *progress
	sink       bridge.Sink
	normalize  bridge.Normalizer
	batchSize  int
	retry      retryPolicy
	retryDelay time.Duration
	ackWait    time.Duration
	obs        bridge.Observer
	log        *slog.Logger
	now        func() time.Time
	deadLetter func(ctx context.Context, env *bridge.Envelope, f store.Failure) error
	// firstFailure remembers, by ingest stream sequence, when an event
	// first failed, for its dead-letter entry. Only the run goroutine
	// touches it; it holds at most the consumer's ack-pending events. After
	// a restart the first failure seen by this process stands in.
	firstFailure map[uint64]time.Time
}

// Consumer recovery backoff: a few quick attempts, then a steady probe.
const (
	recoverInitial = 200 * time.Millisecond
	recoverMax     = 15 * time.Second
)

// run forwards until ctx ends. Whenever consuming stops with an error (the
// consumer was deleted, JetStream lost it, the connection closed, or
// Consume itself failed) the forwarder reports itself down, waits with
// backoff, recreates the consumer if it is gone, and consumes again: a
// partner's flow never ends while the process runs.
func (f *forwarder) run(ctx context.Context) {
	b := bridge.Backoff{Initial: recoverInitial, Max: recoverMax}
	for {
		started := time.Now()
		err := f.consume(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > recoverMax {
			b.Reset()
		}
		for {
			f.states.set(f.partner, bridge.StateDown, err)
			d := b.Next()
			f.log.Error("forwarder cannot consume; the partner's events wait in JetStream until it recovers",
				"err", err, "retry_in", d.Round(time.Millisecond))
			if !bridge.Sleep(ctx, d) {
				return
			}
			if err = f.reattach(ctx); err == nil {
				break
			}
		}
	}
}

// errConsumerGone reports that the forwarder consumer no longer exists.
var errConsumerGone = errors.New("forwarder consumer is gone")

// consume hands the consumer's messages to the ERP sink in batches. It
// returns nil when ctx ends, or why consuming stopped.
func (f *forwarder) consume(ctx context.Context) error {
	msgs := make(chan jetstream.Msg, f.batchSize)
	// stopped carries an error after which the library has stopped
	// consuming; suspect one after which it goes on pulling, but which a
	// deleted consumer also causes (a pull request nobody answers).
	stopped, suspect := make(chan error, 1), make(chan struct{}, 1)
	// The handler always hands messages over in order, even while
	// stopping, so releaseOnStop can give them back in order.
	cc, err := f.cons.Consume(func(m jetstream.Msg) { msgs <- m },
		jetstream.PullMaxMessages(2*f.batchSize),
		// A pull request lost with a consumer leader (cluster failover, or
		// a consumer created a moment ago) is only renewed after two missed
		// heartbeats; the default 30 s expiry would stall the partner's flow
		// for 30 s, this one for about 4 s.
		jetstream.PullExpiry(4*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			f.log.Debug("forwarder consume", "err", err)
			switch {
			case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrBadRequest),
				errors.Is(err, jetstream.ErrConnectionClosed):
				select {
				case stopped <- err:
				default:
				}
			case errors.Is(err, jetstream.ErrNoHeartbeat), errors.Is(err, nats.ErrNoResponders),
				errors.Is(err, jetstream.ErrConsumerNotFound):
				select {
				case suspect <- struct{}{}:
				default:
				}
			}
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", f.cfg.Durable, err)
	}
	f.states.set(f.partner, bridge.StateUp, nil)
	// degraded: a check found JetStream unreachable; the next message
	// shows it is back.
	degraded := false
	for {
		batch := make([]jetstream.Msg, 0, f.batchSize)
		select {
		case <-ctx.Done():
			releaseOnStop(cc, msgs, f.log)
			return nil
		case err := <-stopped:
			releaseOnStop(cc, msgs, f.log)
			return fmt.Errorf("consumer %s: %w", f.cfg.Durable, err)
		case <-suspect:
			if err := f.check(ctx); err != nil {
				if errors.Is(err, errConsumerGone) {
					releaseOnStop(cc, msgs, f.log)
					return err
				}
				// JetStream unreachable: the library renews its pull once
				// the connection is back; until then say so.
				f.states.set(f.partner, bridge.StateDown, err)
				degraded = true
			} else {
				f.states.set(f.partner, bridge.StateUp, nil)
				degraded = false
			}
			continue
		case m := <-msgs:
			batch = append(batch, m)
			if degraded {
				f.states.set(f.partner, bridge.StateUp, nil)
				degraded = false
			}
		}
	fill:
		for len(batch) < f.batchSize {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		// The batch in hand is finished even during shutdown, so what the
		// ERP confirmed is also acknowledged to JetStream.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.ackWait)
		f.forward(bctx, batch)
		cancel()
	}
}

// check asks JetStream whether the consumer still exists.
func (f *forwarder) check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := f.cons.Info(cctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("%w: %s", errConsumerGone, f.cfg.Durable)
	}
	if err != nil {
		return fmt.Errorf("consumer %s info: %w", f.cfg.Durable, err)
	}
	return nil
}

// reattach gets a consumer to consume from: the existing one, or, if it is
// gone, a new one that resumes after what this forwarder has finished.
// Events confirmed out of order above that point are deleted first, so
// the new consumer hands out exactly the events not yet confirmed. (An
// event another bridge replica confirmed since the last ack floor this one
// saw is not known here and reaches the ERP again, with the same id.)
func (f *forwarder) reattach(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := f.js.Consumer(ctx, f.stream, f.cfg.Durable)
	if err == nil {
		f.cons = cons
		return nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("look up consumer %s: %w", f.cfg.Durable, err)
	}
	start, finished := f.progress.resume()
	if len(finished) > 0 {
		st, err := f.js.Stream(ctx, f.stream)
		if err != nil {
			return fmt.Errorf("look up stream %s: %w", f.stream, err)
		}
		for _, seq := range finished {
			if err := st.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("delete confirmed event %d before recreating consumer %s: %w", seq, f.cfg.Durable, err)
			}
		}
	}
	cons, err = f.js.CreateConsumer(ctx, f.stream, startingAt(f.cfg, start))
	if errors.Is(err, jetstream.ErrConsumerExists) {
		// Another replica recreated it first.
		cons, err = f.js.Consumer(ctx, f.stream, f.cfg.Durable)
	}
	if err != nil {
		return fmt.Errorf("recreate consumer %s: %w", f.cfg.Durable, err)
	}
	f.progress.resumed(start)
	f.log.Warn("forwarder consumer recreated", "consumer", f.cfg.Durable, "start_seq", start, "deleted_confirmed", len(finished))
	f.cons = cons
	return nil
}

// startingAt is cc starting at stream sequence start (0: the first stored
// event).
func startingAt(cc jetstream.ConsumerConfig, start uint64) jetstream.ConsumerConfig {
	if start > 0 {
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = start
	}
	return cc
}

// releaseOnStop stops consuming and gives back, in order, every message
// already delivered to this process but not handled. A nak makes JetStream
// redeliver it at once, ahead of newer messages, instead of after AckWait:
// a restart neither stalls a partner for AckWait nor reorders its events.
// The naks wait until the subscription is gone, or the server would hand
// the first ones straight back to this dying subscription, behind the rest.
func releaseOnStop(cc jetstream.ConsumeContext, msgs <-chan jetstream.Msg, log *slog.Logger) {
	cc.Drain()
	var held []jetstream.Msg
	for {
		select {
		case m := <-msgs:
			held = append(held, m)
			continue
		case <-cc.Closed():
		}
		break
	}
	for {
		select {
		case m := <-msgs:
			held = append(held, m)
			continue
		default:
		}
		break
	}
	store.NakInOrder(held, log)
}

func (f *forwarder) forward(ctx context.Context, batch []jetstream.Msg) {
	envs := make([]*bridge.Envelope, 0, len(batch))
	held := make([]jetstream.Msg, 0, len(batch))
	out := make([]*bridge.ERPMessage, 0, len(batch))
	for _, m := range batch {
		env, erp, rej := f.prepare(m)
		if rej != nil {
			now := f.now()
			f.giveUp(ctx, m, env, store.Failure{Rejection: rej, Last: now, In: bridge.FailedAtForward, Key: "s" + strconv.FormatUint(streamSeq(m), 10)})
			continue
		}
		envs, held, out = append(envs, env), append(held, m), append(out, erp)
	}
	if len(out) == 0 {
		return
	}
	errs := f.sink.Publish(ctx, out)
	now := f.now()
	for i, m := range held {
		if errs == nil || errs[i] == nil {
			if err := m.Ack(); err != nil {
				f.log.Warn("ack after ERP confirm failed; the event will be redelivered and deduplicated by id", "id", envs[i].ID, "err", err)
			}
			seq := streamSeq(m)
			f.progress.finished(seq)
			delete(f.firstFailure, seq)
			f.obs.Forwarded(envs[i], now.Sub(envs[i].ReceivedAt))
			continue
		}
		f.obs.ForwardFailed(envs[i], errs[i])
		f.failed(ctx, m, envs[i], errs[i], now)
	}
}

// failed schedules a retry of an event the ERP did not confirm, with
// exponential backoff and jitter, or dead-letters it once its attempts are
// used up. The delay is JetStream's (NakWithDelay): the forwarder goes on
// with the partner's other events meanwhile.
func (f *forwarder) failed(ctx context.Context, m jetstream.Msg, env *bridge.Envelope, err error, now time.Time) {
	seq := streamSeq(m)
	first, ok := f.firstFailure[seq]
	if !ok {
		first = now
		if seq != 0 {
			f.pruneFailures(now)
			f.firstFailure[seq] = now
		}
	}
	if f.retry.Exhausted(env.Attempt) {
		f.log.Warn("ERP sink did not confirm, attempts used up: dead-lettering", "id", env.ID, "attempt", env.Attempt, "err", err)
		f.giveUp(ctx, m, env, store.Failure{
			Rejection: bridge.Reject(bridge.ReasonMaxAttempts, "ERP sink did not confirm after %d attempts: %v", env.Attempt, err),
			First:     first, Last: now, In: bridge.FailedAtForward, Key: "s" + strconv.FormatUint(seq, 10),
		})
		return
	}
	delay := f.retry.Delay(env.Attempt)
	f.log.Warn("ERP sink did not confirm, will retry", "id", env.ID, "attempt", env.Attempt, "in", delay.Round(time.Millisecond), "err", err)
	if err := m.NakWithDelay(delay); err != nil {
		f.log.Warn("nak failed; JetStream redelivers after ack wait", "id", env.ID, "err", err)
	}
}

// maxTrackedFailures bounds firstFailure. Entries are removed when their
// event is acknowledged or dead-lettered here; one acknowledged by another
// bridge replica leaves its entry behind, which pruning removes.
const maxTrackedFailures = 1 << 16

func (f *forwarder) pruneFailures(now time.Time) {
	if len(f.firstFailure) < maxTrackedFailures {
		return
	}
	for seq, t := range f.firstFailure {
		if now.Sub(t) > 24*time.Hour {
			delete(f.firstFailure, seq)
		}
	}
	if len(f.firstFailure) >= maxTrackedFailures {
		// Only the first-failure time of a dead-letter entry is at stake.
		clear(f.firstFailure)
	}
}

func streamSeq(m jetstream.Msg) uint64 {
	if md, err := m.Metadata(); err == nil {
		return md.Sequence.Stream
	}
	return 0
}

// prepare decodes a stored message and builds its ERP form.
func (f *forwarder) prepare(m jetstream.Msg) (*bridge.Envelope, *bridge.ERPMessage, *bridge.Rejection) {
	env, err := store.Decode(m.Subject(), m.Headers(), m.Data())
	if err != nil {
		return &bridge.Envelope{Partner: f.partner, ID: "unknown", Payload: m.Data(), Headers: map[string]string{}}, nil,
			bridge.Reject(bridge.ReasonUnhandled, "stored message cannot be decoded: %v", err)
	}
	if md, err := m.Metadata(); err == nil {
		env.Attempt = int(md.NumDelivered)
	}
	erp, err := f.normalize(env)
	if err != nil {
		if r, ok := bridge.AsRejection(err); ok {
			return env, nil, r
		}
		return env, nil, bridge.Reject(bridge.ReasonUnhandled, "normalize: %v", err)
	}
	return env, erp, nil
}

// giveUp moves an event to the dead-letter stream and only then removes it
// from the ingest stream.
func (f *forwarder) giveUp(ctx context.Context, m jetstream.Msg, env *bridge.Envelope, fl store.Failure) {
	if err := f.deadLetter(ctx, env, fl); err != nil {
		f.log.Error("cannot dead-letter; will retry", "id", env.ID, "err", err)
		_ = m.NakWithDelay(f.retryDelay)
		return
	}
	if err := m.Ack(); err != nil {
		f.log.Warn("ack after dead-letter failed", "id", env.ID, "err", err)
	}
	f.progress.finished(streamSeq(m))
	delete(f.firstFailure, streamSeq(m))
}
