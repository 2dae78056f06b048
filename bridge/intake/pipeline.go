package intake

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/forward"
	"github.com/dmzbridge/dmzbridge/bridge/store"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Options assemble a pipeline.
type Options struct {
	JS        jetstream.JetStream
	Topology  store.Topology
	JetStream config.JetStream
	Forward   config.Forward
	// Retry gives a partner's retry settings; nil uses Forward's.
	Retry     func(partner string) config.Retry
	Partners  []string
	Stages    []bridge.Stage
	Sink      bridge.Sink
	Normalize bridge.Normalizer
	Observer  bridge.Observer
	Logger    *slog.Logger
	// SoleConsumer says this process is the only one forwarding from the
	// ingest stream (embedded JetStream). Its forwarder consumers then
	// start afresh after the old ones' ack floors (see forward.Config).
	SoleConsumer bool
	// ShutdownTimeout bounds Run's shutdown once its ctx ends (default
	// DefaultShutdownTimeout). What is not stored and acknowledged by then
	// (an event held by a stuck stage, say) is left unacknowledged, and
	// its partner's broker redelivers it.
	ShutdownTimeout time.Duration
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// Forwarders receives each partner's forwarder state; nil keeps it
	// only in the pipeline (see Pipeline.Forwarders).
	Forwarders *forward.States
}

// DefaultShutdownTimeout is Options.ShutdownTimeout's default.
const DefaultShutdownTimeout = 30 * time.Second

// Pipeline runs partner events from intake through JetStream to the ERP.
// It implements Intake for the sources.
type Pipeline struct {
	opts   Options
	log    *slog.Logger
	obs    bridge.Observer
	writer store.Writer
	// runs is set by Run: each partner's source and forwarder
	// (partners.go).
	runs atomic.Pointer[partnerRuns]
}

// New checks the options and prepares the pipeline; streams must exist
// already (see store.Topology.EnsureStreams).
func New(opts Options) (*Pipeline, error) {
	if opts.JS == nil || opts.Sink == nil {
		return nil, fmt.Errorf("pipeline needs a JetStream context and a sink")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Normalize == nil {
		opts.Normalize = bridge.PassThrough
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	// A stage that panics dead-letters its event as unhandled.
	opts.Stages = RecoverStages(opts.Stages)
	if opts.Forwarders == nil {
		opts.Forwarders = forward.NewStates(opts.Partners)
	}
	obs := opts.Observer
	if obs == nil {
		obs = bridge.Observers(nil)
	}
	return &Pipeline{
		opts:   opts,
		log:    opts.Logger,
		obs:    obs,
		writer: store.NewWriter(opts.JS, opts.JetStream, opts.Topology.StreamOf, opts.Logger),
	}, nil
}

// Submit implements bridge.Intake.
func (p *Pipeline) Submit(ctx context.Context, env *bridge.Envelope, done func(error)) error {
	if env.ReceivedAt.IsZero() {
		env.ReceivedAt = p.opts.Now()
	}
	if env.Headers == nil {
		env.Headers = map[string]string{}
	}
	if env.ID == "" {
		env.ID = bridge.ContentID(env.Partner, env.Payload)
	}
	// Stages replace the payload rather than edit it, so the original stays
	// intact for the dead-letter entry.
	original := env.Payload
	rej := env.Rejection
	var stageErr error
	if rej == nil {
		for _, st := range p.opts.Stages {
			err := st.Process(ctx, env)
			if err == nil {
				continue
			}
			if r, ok := bridge.AsRejection(err); ok {
				rej = r
			} else {
				stageErr = fmt.Errorf("stage %s: %w", st.Name(), err)
			}
			break
		}
	}
	p.received(env, original)
	if rej != nil {
		return p.deadLetter(ctx, env, original, rej, done)
	}
	if stageErr != nil {
		done(stageErr)
		return nil
	}
	msg := store.ToMsg(p.opts.Topology.IngestSubject(env.Partner), env)
	return p.writer.Write(ctx, msg, func(err error) {
		if err == nil {
			p.obs.Stored(env)
		}
		done(err)
	})
}

// received tells the observers about an event once the stages ran: the
// type is known then (validation sets it), so received and forwarded
// counts per type can be compared. The observers see the payload as the
// partner sent it (the audit trail's digest is of that), not as masked.
func (p *Pipeline) received(env *bridge.Envelope, original []byte) {
	if len(env.Payload) == len(original) && (len(original) == 0 || &env.Payload[0] == &original[0]) {
		p.obs.Received(env)
		return
	}
	in := *env
	in.Payload = original
	p.obs.Received(&in)
}

func (p *Pipeline) deadLetter(ctx context.Context, env *bridge.Envelope, original []byte, r *bridge.Rejection, done func(error)) error {
	dl := *env
	dl.Payload = original
	now := p.opts.Now()
	msg := store.DeadLetterMsg(p.opts.Topology.DeadLetterSubject(env.Partner), &dl, r, now, now)
	return p.writer.Write(ctx, msg, func(err error) {
		if err == nil {
			p.obs.DeadLettered(&dl, r)
		}
		done(err)
	})
}

// Run starts the forwarders and the sources and blocks until ctx ends.
// Shutdown drains in order: sources stop taking messages, every accepted
// message gets its PubAck (and its source its ack), then the forwarders
// finish the batch they hold and stop. Nothing accepted is dropped. The
// whole drain is bounded by ShutdownTimeout: a source or forwarder still
// busy then (a stage that never returns, say) is abandoned, and what it
// held was not acknowledged, so its broker redelivers it.
func (p *Pipeline) Run(ctx context.Context, sources map[string]bridge.Source) error {
	fwdCtx, stopForwarders := context.WithCancel(context.WithoutCancel(ctx))
	defer stopForwarders()

	var fwg, swg sync.WaitGroup
	runs := &partnerRuns{srcCtx: ctx, fwdCtx: fwdCtx, swg: &swg, fwg: &fwg,
		sources: map[string]*runHandle{}, forwarders: map[string]*runHandle{}, draining: map[string]bool{}}
	runs.mu.Lock()
	p.runs.Store(runs)
	for _, partner := range p.opts.Partners {
		p.startForwarder(partner)
	}
	for partner, src := range sources {
		p.startSource(partner, src)
	}
	runs.mu.Unlock()
	<-ctx.Done()
	// No partner starts or stops once the drain begins.
	runs.mu.Lock()
	runs.stopped = true
	runs.mu.Unlock()
	p.log.Info("shutting down: stopping intake", "timeout", p.opts.ShutdownTimeout)
	stopCtx, cancel := context.WithTimeout(context.Background(), p.opts.ShutdownTimeout)
	defer cancel()
	if !waitOrDone(stopCtx, &swg) {
		p.log.Error("intake did not stop within the shutdown timeout; events still being processed are not acknowledged and their brokers redeliver them")
	}
	if err := p.writer.Close(stopCtx); err != nil {
		p.log.Error("drain of pending writes timed out; their sources will redeliver", "err", err)
	}
	stopForwarders()
	if !waitOrDone(stopCtx, &fwg) {
		p.log.Error("forwarders did not stop within the shutdown timeout; unconfirmed events stay in the ingest stream")
	}
	// A round trip makes sure the server has processed the last acks and
	// naks before the connection (or an embedded server) goes away.
	flush := min(5*time.Second, time.Until(deadlineOf(stopCtx)))
	if flush <= 0 {
		p.log.Warn("no time left to flush the final acks; unacknowledged events are redelivered and deduplicated")
	} else if err := p.opts.JS.Conn().FlushTimeout(flush); err != nil {
		p.log.Warn("flush of final acks failed; unacknowledged events are redelivered and deduplicated", "err", err)
	}
	p.log.Info("pipeline stopped")
	return nil
}

// waitOrDone waits for wg until ctx ends and reports whether wg finished.
// The waiting goroutine outlives a timeout only as long as what wg counts.
func waitOrDone(ctx context.Context, wg *sync.WaitGroup) bool {
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return true
	case <-ctx.Done():
		return false
	}
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// Forwarders is the state of each partner's forwarder.
func (p *Pipeline) Forwarders() *forward.States { return p.opts.Forwarders }

// forwardConfig is what a partner's forwarder needs from the pipeline.
func (p *Pipeline) forwardConfig(partner string) forward.Config {
	return forward.Config{
		JS: p.opts.JS, Topology: p.opts.Topology, JetStream: p.opts.JetStream, Forward: p.opts.Forward,
		Retry: p.retryFor(partner), SoleConsumer: p.opts.SoleConsumer,
		Sink: p.opts.Sink, Normalize: p.opts.Normalize, Observer: p.obs, Logger: p.log, Now: p.opts.Now,
		States: p.opts.Forwarders,
	}
}

func (p *Pipeline) retryFor(partner string) config.Retry {
	if p.opts.Retry != nil {
		return p.opts.Retry(partner)
	}
	return p.opts.Forward.EffectiveRetry()
}
