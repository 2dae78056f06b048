package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/connkit"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// SourceOptions configure a partner's NATS inbound connector.
type SourceOptions struct {
	Endpoint `yaml:",inline"`
	// Subject the partner publishes on; wildcards allowed.
	Subject string `yaml:"subject"`
	// Stream, when set, consumes the partner's JetStream stream through a
	// durable consumer: at-least-once, acknowledged only once stored.
	// Without it the source subscribes with core NATS, which is at-most-once
	// unless the partner uses request-reply and waits for "+OK".
	Stream string `yaml:"stream"`
	// Durable names the JetStream consumer (default dmzbridge-<partner>).
	Durable string `yaml:"durable"`
	// Queue is the core NATS queue group shared by bridge replicas.
	Queue string `yaml:"queue"`
	// MaxInFlight bounds messages taken but not yet stored (backpressure).
	MaxInFlight int `yaml:"max_in_flight"`
	// AckWait is how long JetStream waits before redelivering.
	AckWait time.Duration `yaml:"ack_wait"`
	// IDHeader names a header holding the partner's message id, used when
	// Nats-Msg-Id is absent.
	IDHeader string `yaml:"id_header"`
}

// Source consumes one partner's NATS subject.
type Source struct {
	opts SourceOptions
	spec bridge.SourceSpec
	log  *slog.Logger

	// mu guards the link State reads: the connection of the running Run
	// (nil before it dials) and whether Run has returned, since a source
	// whose Run ended is not restarted by the pipeline and stays down.
	mu      sync.Mutex
	nc      *nats.Conn
	stopped bool
}

// NewSource decodes and validates options; it does not connect.
func NewSource(node *yaml.Node, spec bridge.SourceSpec) (bridge.Source, error) {
	var o SourceOptions
	if err := config.DecodeStrict(node, &o); err != nil {
		return nil, err
	}
	connkit.Default(&o.Durable, "dmzbridge-"+spec.Partner)
	connkit.Default(&o.Queue, "dmzbridge")
	connkit.Default(&o.MaxInFlight, 1024)
	connkit.Default(&o.AckWait, 30*time.Second)
	var errs config.FieldErrors
	o.Endpoint.validate(&errs)
	if o.Subject == "" {
		errs.Add("subject", "required")
	}
	if o.MaxInFlight < 1 {
		errs.Add("max_in_flight", "must be at least 1")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &Source{opts: o, spec: spec, log: connkit.Logger(spec.Logger).With("connector", Name, "partner", spec.Partner)}, nil
}

// Run implements bridge.Source.
func (s *Source) Run(ctx context.Context, in bridge.Intake) error {
	s.setLink(nil, false)
	defer s.setLink(nil, true)
	nc, err := s.opts.dial("dmzbridge-in-"+s.spec.Partner, s.log)
	if err != nil {
		return err
	}
	s.setLink(nc, false)
	defer nc.Close()
	var outstanding sync.WaitGroup
	if s.opts.Stream != "" {
		err = s.runJetStream(ctx, nc, in, &outstanding)
	} else {
		err = s.runCore(ctx, nc, in, &outstanding)
	}
	waitTimeout(&outstanding, 30*time.Second)
	return err
}

func (s *Source) setLink(nc *nats.Conn, stopped bool) {
	s.mu.Lock()
	s.nc, s.stopped = nc, stopped
	s.mu.Unlock()
}

// State implements bridge.StateReporter from the partner connection's
// status: up while connected, connecting while it (re)connects (the
// client retries forever, also when the server was down at start), down
// once closed or once Run has returned.
func (s *Source) State() string {
	s.mu.Lock()
	nc, stopped := s.nc, s.stopped
	s.mu.Unlock()
	switch {
	case stopped:
		return bridge.StateDown
	case nc == nil: // not dialled yet
		return bridge.StateConnecting
	}
	return linkState(nc.Status())
}

func linkState(st nats.Status) string {
	switch st {
	case nats.CONNECTED, nats.DRAINING_SUBS, nats.DRAINING_PUBS:
		return bridge.StateUp
	case nats.CONNECTING, nats.RECONNECTING:
		return bridge.StateConnecting
	default: // DISCONNECTED, CLOSED
		return bridge.StateDown
	}
}

func (s *Source) runJetStream(ctx context.Context, nc *nats.Conn, in bridge.Intake, outstanding *sync.WaitGroup) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	var cons jetstream.Consumer
	err = bridge.Retry(ctx, s.log, "create consumer on partner stream "+s.opts.Stream, func(ctx context.Context) error {
		var err error
		cons, err = js.CreateOrUpdateConsumer(ctx, s.opts.Stream, jetstream.ConsumerConfig{
			Durable:       s.opts.Durable,
			FilterSubject: s.opts.Subject,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       s.opts.AckWait,
			MaxAckPending: s.opts.MaxInFlight,
			MaxDeliver:    -1,
		})
		return err
	})
	if err != nil {
		return nil // ctx ended while the partner's server was unreachable
	}
	s.log.Info("consuming partner stream", "stream", s.opts.Stream, "subject", s.opts.Subject)
	var (
		heldMu sync.Mutex
		held   []jetstream.Msg
	)
	// Messages already handed to this process are still processed while it
	// stops, rather than held back and nak'd: when the subscription ends,
	// the server gives back at once (ahead of any later nak) what it had
	// sent but this process never saw, and those are always the newest. Had
	// the older, held ones been nak'd after them, the next process would
	// receive the partner's events out of order. The drain is bounded: past
	// drainLimit after ctx ends, Submit gives up and messages are held and
	// nak'd.
	submitCtx, cancelSubmit := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSubmit()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		// The handler runs sequentially, so held is in delivery order.
		hold := func() {
			heldMu.Lock()
			held = append(held, m)
			heldMu.Unlock()
		}
		if submitCtx.Err() != nil {
			hold()
			return
		}
		env := s.envelope(m.Subject(), m.Headers(), m.Data())
		if env.ID == "" {
			if md, err := m.Metadata(); err == nil {
				env.ID = s.opts.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
				bridge.SetPartnerMessageID(env, env.ID)
			}
		}
		outstanding.Add(1)
		err := in.Submit(submitCtx, env, func(err error) {
			defer outstanding.Done()
			if err != nil {
				s.log.Warn("not stored, partner's broker will redeliver", "id", env.ID, "err", err)
				_ = m.NakWithDelay(time.Second)
				return
			}
			if err := m.Ack(); err != nil {
				s.log.Warn("ack failed; the redelivered copy is deduplicated", "id", env.ID, "err", err)
			}
		})
		if err != nil {
			// Submit refuses only when stopping.
			outstanding.Done()
			hold()
		}
	},
		jetstream.PullMaxMessages(min(s.opts.MaxInFlight, 1000)),
		// Renew a pull lost with the partner cluster's consumer leader in
		// ~4 s instead of the default 30 s.
		jetstream.PullExpiry(4*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			s.log.Debug("consume", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", s.opts.Stream, err)
	}
	<-ctx.Done()
	drainTimer := time.AfterFunc(drainLimit, cancelSubmit)
	defer drainTimer.Stop()
	cc.Drain()
	<-cc.Closed()
	// Only what could not be stored in time is left; it goes back in order
	// once the subscription is gone.
	heldMu.Lock()
	defer heldMu.Unlock()
	store.NakInOrder(held, s.log)
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		s.log.Warn("flush acks on stop", "err", err)
	}
	return nil
}

func (s *Source) runCore(ctx context.Context, nc *nats.Conn, in bridge.Intake, outstanding *sync.WaitGroup) error {
	sub, err := nc.QueueSubscribe(s.opts.Subject, s.opts.Queue, func(m *nats.Msg) {
		env := s.envelope(m.Subject, m.Header, m.Data)
		if env.ID == "" {
			env.ID = bridge.ContentID(s.spec.Partner, m.Data)
		}
		outstanding.Add(1)
		err := in.Submit(ctx, env, func(err error) {
			defer outstanding.Done()
			if m.Reply == "" {
				return
			}
			reply := "+OK"
			if err != nil {
				reply = "-ERR not stored"
			}
			_ = m.Respond([]byte(reply))
		})
		if err != nil {
			outstanding.Done()
			if m.Reply != "" {
				_ = m.Respond([]byte("-ERR bridge shutting down"))
			}
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", s.opts.Subject, err)
	}
	// Submit blocks when the pipeline is full; let the client buffer rather
	// than the server cutting the subscription off as a slow consumer.
	_ = sub.SetPendingLimits(-1, 256<<20)
	s.log.Info("subscribed to partner subject", "subject", s.opts.Subject, "queue", s.opts.Queue)
	<-ctx.Done()
	if err := sub.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.log.Warn("drain subscription", "err", err)
	}
	return nil
}

func (s *Source) envelope(subject string, h nats.Header, data []byte) *bridge.Envelope {
	env := &bridge.Envelope{
		Partner: s.spec.Partner,
		Source:  Name,
		Payload: data,
		Headers: make(map[string]string, len(h)+1),
	}
	for k, vs := range h {
		if len(vs) > 0 {
			env.Headers[k] = vs[0]
		}
	}
	env.Headers["Nats-Subject"] = subject
	env.ID = h.Get(nats.MsgIdHdr)
	if env.ID == "" && s.opts.IDHeader != "" {
		env.ID = h.Get(s.opts.IDHeader)
	}
	bridge.SetPartnerMessageID(env, env.ID)
	return env
}

// drainLimit bounds how long a stopping source keeps storing the messages
// it was already handed.
const drainLimit = 10 * time.Second

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
