package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Normalizer turns a stored event into the message the ERP receives.
type Normalizer func(env *Envelope) (*ERPMessage, error)

// PassThrough hands the stored payload to the ERP unchanged, with the
// bridge's identity headers. Validation and masking replace it with the
// CloudEvents normalizer.
func PassThrough(env *Envelope) (*ERPMessage, error) {
	h := map[string]string{
		HeaderPartner: env.Partner,
		HeaderSource:  env.Source,
	}
	if env.EventType != "" {
		h[HeaderEventType] = env.EventType
	}
	if tp := env.TraceParent(); tp != "" {
		h[HeaderTraceParent] = tp
	}
	return &ERPMessage{ID: env.ID, Partner: env.Partner, EventType: env.EventType, Headers: h, Body: env.Payload}, nil
}

// Options assemble a pipeline.
type Options struct {
	JS        jetstream.JetStream
	Topology  Topology
	JetStream config.JetStream
	Forward   config.Forward
	// Retry gives a partner's retry settings; nil uses Forward's.
	Retry     func(partner string) config.Retry
	Partners  []string
	Stages    []Stage
	Sink      Sink
	Normalize Normalizer
	Observer  Observer
	Logger    *slog.Logger
	// SoleConsumer says this process is the only one forwarding from the
	// ingest stream (embedded JetStream). Its forwarder consumers then
	// start afresh after the old ones' ack floors (see ensureConsumer).
	SoleConsumer bool
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// Forwarders receives each partner's forwarder state; nil keeps it
	// only in the pipeline (see Pipeline.Forwarders).
	Forwarders *ForwarderStates
}

// Pipeline runs partner events from intake through JetStream to the ERP.
// It implements Intake for the sources.
type Pipeline struct {
	opts   Options
	log    *slog.Logger
	obs    Observer
	writer Writer
}

// New checks the options and prepares the pipeline; streams must exist
// already (see Topology.EnsureStreams).
func New(opts Options) (*Pipeline, error) {
	if opts.JS == nil || opts.Sink == nil {
		return nil, fmt.Errorf("pipeline needs a JetStream context and a sink")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Normalize == nil {
		opts.Normalize = PassThrough
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Forwarders == nil {
		opts.Forwarders = NewForwarderStates(opts.Partners)
	}
	obs := opts.Observer
	if obs == nil {
		obs = Observers(nil)
	}
	return &Pipeline{
		opts:   opts,
		log:    opts.Logger,
		obs:    obs,
		writer: NewWriter(opts.JS, opts.JetStream, opts.Topology.StreamOf, opts.Logger),
	}, nil
}

// Submit implements Intake.
func (p *Pipeline) Submit(ctx context.Context, env *Envelope, done func(error)) error {
	if env.ReceivedAt.IsZero() {
		env.ReceivedAt = p.opts.Now()
	}
	if env.Headers == nil {
		env.Headers = map[string]string{}
	}
	if env.ID == "" {
		env.ID = ContentID(env.Partner, env.Payload)
	}
	p.obs.Received(env)
	// Stages replace the payload rather than edit it, so the original stays
	// intact for the dead-letter entry.
	original := env.Payload
	if env.Rejection != nil {
		return p.deadLetter(ctx, env, original, env.Rejection, done)
	}
	for _, st := range p.opts.Stages {
		err := st.Process(ctx, env)
		if err == nil {
			continue
		}
		if r, ok := AsRejection(err); ok {
			return p.deadLetter(ctx, env, original, r, done)
		}
		done(fmt.Errorf("stage %s: %w", st.Name(), err))
		return nil
	}
	msg := ToMsg(p.opts.Topology.IngestSubject(env.Partner), env)
	return p.writer.Write(ctx, msg, func(err error) {
		if err == nil {
			p.obs.Stored(env)
		}
		done(err)
	})
}

func (p *Pipeline) deadLetter(ctx context.Context, env *Envelope, original []byte, r *Rejection, done func(error)) error {
	dl := *env
	dl.Payload = original
	now := p.opts.Now()
	msg := DeadLetterMsg(p.opts.Topology.DeadLetterSubject(env.Partner), &dl, r, now, now)
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
// finish the batch they hold and stop. Nothing accepted is dropped.
func (p *Pipeline) Run(ctx context.Context, sources map[string]Source) error {
	fwdCtx, stopForwarders := context.WithCancel(context.WithoutCancel(ctx))
	defer stopForwarders()

	var fwg sync.WaitGroup
	for _, partner := range p.opts.Partners {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			p.runForwarder(fwdCtx, partner)
		}()
	}

	var swg sync.WaitGroup
	for partner, src := range sources {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := src.Run(ctx, p); err != nil && ctx.Err() == nil {
				p.log.Error("inbound connector stopped", "partner", partner, "err", err)
			}
		}()
	}
	<-ctx.Done()
	p.log.Info("shutting down: stopping intake")
	swg.Wait()

	drainCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.writer.Close(drainCtx); err != nil {
		p.log.Error("drain of pending writes timed out; their sources will redeliver", "err", err)
	}
	stopForwarders()
	fwg.Wait()
	// A round trip makes sure the server has processed the last acks and
	// naks before the connection (or an embedded server) goes away.
	if err := p.opts.JS.Conn().FlushTimeout(5 * time.Second); err != nil {
		p.log.Warn("flush of final acks failed; unacknowledged events are redelivered and deduplicated", "err", err)
	}
	p.log.Info("pipeline stopped")
	return nil
}

// Forwarders is the state of each partner's forwarder.
func (p *Pipeline) Forwarders() *ForwarderStates { return p.opts.Forwarders }

func (p *Pipeline) retryFor(partner string) config.Retry {
	if p.opts.Retry != nil {
		return p.opts.Retry(partner)
	}
	return p.opts.Forward.EffectiveRetry()
}

// forwardDeadLetter stores an event the forwarder must give up on and
// reports whether it is durably in the dead-letter stream.
func (p *Pipeline) forwardDeadLetter(ctx context.Context, env *Envelope, f Failure) error {
	msg := DeadLetterEntry(p.opts.Topology.DeadLetterSubject(env.Partner), env, f)
	if _, err := p.opts.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("dead-letter %s: %w", env.ID, err)
	}
	p.obs.DeadLettered(env, f.Rejection)
	return nil
}
