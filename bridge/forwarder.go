package bridge

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// forwarder moves one partner's stored events to the ERP sink. One per
// partner, each on its own durable consumer, so one partner's failures
// never stall another's flow.
type forwarder struct {
	partner    string
	cons       jetstream.Consumer
	sink       Sink
	normalize  Normalizer
	batchSize  int
	retry      RetryPolicy
	retryDelay time.Duration
	ackWait    time.Duration
	obs        Observer
	log        *slog.Logger
	now        func() time.Time
	deadLetter func(ctx context.Context, env *Envelope, f Failure) error
	// firstFailure remembers, by ingest stream sequence, when an event
	// first failed, for its dead-letter entry. Only the run goroutine
	// touches it; it holds at most the consumer's ack-pending events. After
	// a restart the first failure seen by this process stands in.
	firstFailure map[uint64]time.Time
}

func (f *forwarder) run(ctx context.Context) {
	msgs := make(chan jetstream.Msg, f.batchSize)
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
		}))
	if err != nil {
		f.log.Error("forwarder cannot consume", "err", err)
		return
	}
	for {
		batch := make([]jetstream.Msg, 0, f.batchSize)
		select {
		case <-ctx.Done():
			releaseOnStop(cc, msgs, f.log)
			return
		case m := <-msgs:
			batch = append(batch, m)
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
	NakInOrder(held, log)
}

// NakInOrder gives messages back to JetStream in delivery order.
func NakInOrder(msgs []jetstream.Msg, log *slog.Logger) {
	for _, m := range msgs {
		if err := m.Nak(); err != nil {
			log.Debug("nak on stop failed; redelivered after ack wait", "err", err)
		}
	}
}

func (f *forwarder) forward(ctx context.Context, batch []jetstream.Msg) {
	envs := make([]*Envelope, 0, len(batch))
	held := make([]jetstream.Msg, 0, len(batch))
	out := make([]*ERPMessage, 0, len(batch))
	for _, m := range batch {
		env, erp, rej := f.prepare(m)
		if rej != nil {
			now := f.now()
			f.giveUp(ctx, m, env, Failure{Rejection: rej, Last: now, In: FailedAtForward, Key: "s" + strconv.FormatUint(streamSeq(m), 10)})
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
			if len(f.firstFailure) > 0 { // spares parsing the metadata of every event
				delete(f.firstFailure, streamSeq(m))
			}
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
func (f *forwarder) failed(ctx context.Context, m jetstream.Msg, env *Envelope, err error, now time.Time) {
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
		f.giveUp(ctx, m, env, Failure{
			Rejection: Reject(ReasonMaxAttempts, "ERP sink did not confirm after %d attempts: %v", env.Attempt, err),
			First:     first, Last: now, In: FailedAtForward, Key: "s" + strconv.FormatUint(seq, 10),
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
func (f *forwarder) prepare(m jetstream.Msg) (*Envelope, *ERPMessage, *Rejection) {
	env, err := Decode(m.Subject(), m.Headers(), m.Data())
	if err != nil {
		return &Envelope{Partner: f.partner, ID: "unknown", Payload: m.Data(), Headers: map[string]string{}}, nil,
			Reject(ReasonUnhandled, "stored message cannot be decoded: %v", err)
	}
	if md, err := m.Metadata(); err == nil {
		env.Attempt = int(md.NumDelivered)
	}
	erp, err := f.normalize(env)
	if err != nil {
		if r, ok := AsRejection(err); ok {
			return env, nil, r
		}
		return env, nil, Reject(ReasonUnhandled, "normalize: %v", err)
	}
	return env, erp, nil
}

// giveUp moves an event to the dead-letter stream and only then removes it
// from the ingest stream.
func (f *forwarder) giveUp(ctx context.Context, m jetstream.Msg, env *Envelope, fl Failure) {
	if err := f.deadLetter(ctx, env, fl); err != nil {
		f.log.Error("cannot dead-letter; will retry", "id", env.ID, "err", err)
		_ = m.NakWithDelay(f.retryDelay)
		return
	}
	if err := m.Ack(); err != nil {
		f.log.Warn("ack after dead-letter failed", "id", env.ID, "err", err)
	}
	delete(f.firstFailure, streamSeq(m))
}
