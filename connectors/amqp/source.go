package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/connkit"
)

// SourceOptions configure a partner's AMQP inbound connector: the partner
// publishes to its own exchange, the bridge consumes a queue bound to it.
type SourceOptions struct {
	// URL such as amqps://bank-a:${BANK_A_PASSWORD}@partner-mq:5671/partners.
	URL string `yaml:"url"`
	// User and Password override the URL's credentials, so a password
	// needs no URL escaping.
	User     string     `yaml:"user"`
	Password string     `yaml:"password"`
	TLS      config.TLS `yaml:"tls"`
	// Exchange is the partner's dedicated exchange.
	Exchange     string `yaml:"exchange"`
	ExchangeType string `yaml:"exchange_type"` // topic (default) | direct | fanout
	// Queue is bound to Exchange (default dmzbridge.<partner>).
	Queue     string `yaml:"queue"`
	QueueType string `yaml:"queue_type"` // quorum (default) | classic
	// BindingKeys bind Queue to Exchange (default ["#"] for topic; ignored
	// for fanout; required for direct).
	BindingKeys []string `yaml:"binding_keys"`
	// Passive declares nothing: exchange and queue must exist and are only
	// checked, for brokers where the bridge has no configure permission.
	Passive bool `yaml:"passive"`
	// Prefetch is the QoS window: deliveries handed out but not yet
	// acknowledged. It is the backpressure towards the partner's broker.
	// A delivery is acknowledged only after its group commit, so the
	// default is twice the commit's batch (at least 256): one batch
	// commits while the next fills.
	Prefetch int `yaml:"prefetch"`
	// IDHeader names a header holding the partner's message id, used when
	// the AMQP message-id property is absent.
	IDHeader string `yaml:"id_header"`
	// SourceLimits: max_deliveries counts the broker's x-delivery-count on
	// quorum queues and a count kept by this process on classic queues;
	// keep it below the queue's delivery-limit.
	connkit.SourceLimits `yaml:",inline"`
	// ConnectionName is shown in the broker's management tools.
	ConnectionName string        `yaml:"connection_name"`
	Heartbeat      time.Duration `yaml:"heartbeat"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ReconnectInitial and ReconnectMax bound the jittered exponential
	// delay between connection attempts.
	ReconnectInitial time.Duration `yaml:"reconnect_initial"`
	ReconnectMax     time.Duration `yaml:"reconnect_max"`
}

// Source consumes one partner's queue on RabbitMQ over its own connection.
type Source struct {
	opts SourceOptions
	spec bridge.SourceSpec
	log  *slog.Logger
	link *connkit.Link
	// counts holds deliveries per message id on classic queues, which have
	// no x-delivery-count.
	counts connkit.Deliveries
}

// NewSource decodes and validates options; it does not connect.
func NewSource(node *yaml.Node, spec bridge.SourceSpec) (bridge.Source, error) {
	var o SourceOptions
	if err := connkit.DecodeOptions(node, &o, func() { o.defaults(spec) }, o.validate); err != nil {
		return nil, err
	}
	return &Source{
		opts: o,
		spec: spec,
		log:  connkit.Logger(spec.Logger).With("connector", Name, "partner", spec.Partner, "queue", o.Queue),
		link: connkit.NewLink(),
	}, nil
}

// DefaultPrefetch is the QoS window used when prefetch is unset, for a
// group commit of storeBatch events (0: no group commit).
func DefaultPrefetch(storeBatch int) int {
	return min(65535, max(256, 2*storeBatch))
}

func (o *SourceOptions) defaults(spec bridge.SourceSpec) {
	partner := spec.Partner
	connkit.Default(&o.ExchangeType, "topic")
	connkit.Default(&o.Queue, "dmzbridge."+partner)
	connkit.Default(&o.QueueType, "quorum")
	if len(o.BindingKeys) == 0 && o.ExchangeType == "topic" {
		o.BindingKeys = []string{"#"}
	}
	if o.ExchangeType == "fanout" {
		o.BindingKeys = []string{""}
	}
	connkit.Default(&o.Prefetch, DefaultPrefetch(spec.StoreBatch))
	connkit.Default(&o.ConnectionName, "dmzbridge-in-"+partner)
	connkit.Default(&o.Heartbeat, 10*time.Second)
	connkit.Default(&o.ConnectTimeout, 10*time.Second)
	connkit.Default(&o.ReconnectInitial, connkit.DefaultReconnectInitial)
	connkit.Default(&o.ReconnectMax, connkit.DefaultReconnectMax)
	o.SourceLimits.Defaults()
}

func (o *SourceOptions) validate() error {
	var errs config.FieldErrors
	if o.URL == "" {
		errs.Add("url", "required")
	} else if uri, err := amqp.ParseURI(o.URL); err != nil {
		errs.Add("url", "%v", err)
	} else if o.TLS.Enabled() && uri.Scheme != "amqps" {
		errs.Add("url", "tls is configured, so the URL must use amqps://")
	}
	if o.Password != "" && o.User == "" {
		errs.Add("user", "required when password is set")
	}
	if o.Exchange == "" {
		errs.Add("exchange", "required (a partner publishes to its own exchange, not the default one)")
	}
	connkit.OneOf(&errs, "exchange_type", o.ExchangeType, "topic", "direct", "fanout")
	if o.ExchangeType == "direct" && len(o.BindingKeys) == 0 {
		errs.Add("binding_keys", "required for a direct exchange")
	}
	connkit.OneOf(&errs, "queue_type", o.QueueType, "quorum", "classic")
	if o.Prefetch < 1 || o.Prefetch > 65535 {
		errs.Add("prefetch", "must be between 1 and 65535")
	}
	o.SourceLimits.Validate(&errs)
	connkit.ValidateBackoff(&errs, "reconnect_initial", "reconnect_max", o.ReconnectInitial, o.ReconnectMax)
	errs.Merge("tls", o.TLS.Validate())
	return errs.Err()
}

// Describe implements bridge.Describer: the effective QoS window.
func (s *Source) Describe() string {
	return fmt.Sprintf("amqp prefetch %d", s.opts.Prefetch)
}

// State implements bridge.StateReporter: up only while a session
// consumes.
func (s *Source) State() string { return s.link.State() }

// Snapshot is the source's state for health checks and tests.
func (s *Source) Snapshot() connkit.State { return s.link.Snapshot() }

// Run implements bridge.Source: it keeps a session (connection, channel,
// consumer) alive until ctx ends, reconnecting with jittered backoff after
// any connection or channel loss.
func (s *Source) Run(ctx context.Context, in bridge.Intake) error {
	r := connkit.Reconnect{Initial: s.opts.ReconnectInitial, Max: s.opts.ReconnectMax, Ended: "partner broker session ended, reconnecting"}
	s.link.Run(ctx, r, s.log, func(ctx context.Context) (bool, error) { return s.session(ctx, in) })
	return nil
}

func (s *Source) dial() (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(s.opts.ConnectionName)
	cfg := amqp.Config{
		Heartbeat:  s.opts.Heartbeat,
		Properties: props,
		Dial:       amqp.DefaultDial(s.opts.ConnectTimeout),
	}
	if s.opts.User != "" {
		cfg.SASL = []amqp.Authentication{&amqp.PlainAuth{Username: s.opts.User, Password: s.opts.Password}}
	}
	return dial(s.opts.URL, s.opts.TLS, cfg, "")
}

// declare sets up (or, passive, checks) the partner's exchange and queue.
func (s *Source) declare(ch *amqp.Channel) error {
	o := s.opts
	if o.Passive {
		if err := ch.ExchangeDeclarePassive(o.Exchange, o.ExchangeType, true, false, false, false, nil); err != nil {
			return fmt.Errorf("check exchange %s (passive): %w", o.Exchange, err)
		}
		if _, err := ch.QueueDeclarePassive(o.Queue, true, false, false, false, nil); err != nil {
			return fmt.Errorf("check queue %s (passive): %w", o.Queue, err)
		}
		return nil
	}
	if err := ch.ExchangeDeclare(o.Exchange, o.ExchangeType, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", o.Exchange, err)
	}
	args := amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeClassic}
	if o.QueueType == "quorum" {
		args[amqp.QueueTypeArg] = amqp.QueueTypeQuorum
	}
	if _, err := ch.QueueDeclare(o.Queue, true, false, false, false, args); err != nil {
		return fmt.Errorf("declare %s queue %s (an existing queue of another type or arguments is refused): %w", o.QueueType, o.Queue, err)
	}
	for _, key := range o.BindingKeys {
		if err := ch.QueueBind(o.Queue, key, o.Exchange, false, nil); err != nil {
			return fmt.Errorf("bind queue %s to %s with key %q: %w", o.Queue, o.Exchange, key, err)
		}
	}
	return nil
}

// session runs one connection until it is lost or ctx ends. consumed
// reports whether the consumer was established, which resets the backoff.
func (s *Source) session(ctx context.Context, in bridge.Intake) (consumed bool, err error) {
	conn, err := s.dial()
	if err != nil {
		return false, err
	}
	defer func() {
		// Closing the connection returns every unacknowledged delivery to
		// the queue; JetStream deduplicates the copies by message id.
		if cerr := conn.Close(); cerr != nil && !errors.Is(cerr, amqp.ErrClosed) {
			s.log.Debug("close connection", "err", cerr)
		}
	}()
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open channel: %w", err)
	}
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := s.declare(ch); err != nil {
		return false, err
	}
	if err := ch.Qos(s.opts.Prefetch, 0, false); err != nil {
		return false, fmt.Errorf("set prefetch %d: %w", s.opts.Prefetch, err)
	}
	tag := s.opts.ConnectionName
	deliveries, err := ch.Consume(s.opts.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("consume %s: %w", s.opts.Queue, err)
	}
	s.link.Set(connkit.PhaseConnected, nil)
	s.log.Info("consuming partner queue", "exchange", s.opts.Exchange, "queue_type", s.opts.QueueType, "prefetch", s.opts.Prefetch)

	ack := newAcker(ch, s.opts.Prefetch, s.log)
	ackDone := make(chan struct{})
	go func() {
		defer close(ackDone)
		ack.run()
	}()
	defer func() {
		ack.close()
		<-ackDone
	}()

	for {
		select {
		case <-ctx.Done():
			s.drain(ch, tag, ack)
			return true, nil
		case e := <-connClosed:
			return true, fmt.Errorf("connection closed: %w", closeErr(e))
		case e := <-chClosed:
			return true, fmt.Errorf("channel closed: %w", closeErr(e))
		case d, ok := <-deliveries:
			if !ok {
				// The broker cancelled the consumer (queue deleted, node
				// failover) or the channel is going away.
				return true, errors.New("consumer cancelled by the broker")
			}
			s.handle(ctx, in, ack, d)
		}
	}
}

func closeErr(e *amqp.Error) error {
	if e == nil {
		return amqp.ErrClosed
	}
	return e
}

// drain stops the consumer and waits until the pipeline has settled what it
// holds, so those deliveries are acknowledged rather than redelivered.
func (s *Source) drain(ch *amqp.Channel, tag string, ack *acker) {
	if err := ch.Cancel(tag, false); err != nil {
		s.log.Debug("cancel consumer", "err", err)
	}
	if !ack.wait(s.opts.DrainTimeout) {
		s.log.Warn("drain timed out; the broker redelivers what was not stored", "pending", ack.pendingCount())
	}
}

func (s *Source) handle(ctx context.Context, in bridge.Intake, ack *acker, d amqp.Delivery) {
	env := s.envelope(d)
	classic := s.opts.QueueType == "classic"
	if classic {
		s.countDelivery(env)
	}
	ack.add(d.DeliveryTag)
	_ = s.link.Submit(ctx, in, env, func(err error) {
		if err != nil {
			s.log.Warn("not stored, requeued on the partner's broker", "id", env.ID, "err", err)
		} else if classic {
			s.counts.Forget(env.ID)
		}
		ack.settle(d.DeliveryTag, err == nil)
	})
}

// priorDeliveries returns how many times the broker delivered this
// message before (quorum queues count them).
func (s *Source) priorDeliveries(d amqp.Delivery) int {
	if v, ok := d.Headers["x-delivery-count"]; ok {
		if n, ok := toInt(v); ok {
			return n
		}
	}
	return 0
}

func (s *Source) countDelivery(env *bridge.Envelope) {
	connkit.RejectRedelivered(env, s.counts.Count(env.ID), s.opts.MaxDeliveries, "delivered")
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int8:
		return int(n), true
	case int16:
		return int(n), true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case uint8:
		return int(n), true
	case uint16:
		return int(n), true
	case uint32:
		return int(n), true
	case uint64:
		return int(n), true
	}
	return 0, false
}

// Header names under which AMQP properties travel in the envelope.
const (
	HeaderExchange        = "Amqp-Exchange"
	HeaderRoutingKey      = "Amqp-Routing-Key"
	HeaderContentType     = "Content-Type"
	HeaderContentEncoding = "Content-Encoding"
	HeaderCorrelationID   = "Amqp-Correlation-Id"
	HeaderTimestamp       = "Amqp-Timestamp"
)

// envelope turns a delivery into an envelope. Every delivery yields one;
// one the pipeline must not store as forwardable carries a Rejection.
func (s *Source) envelope(d amqp.Delivery) *bridge.Envelope {
	env := &bridge.Envelope{
		Partner:   s.spec.Partner,
		Source:    Name,
		EventType: bridge.CleanHeaderValue(d.Type),
		Payload:   d.Body,
		Headers:   make(map[string]string, len(d.Headers)+4),
	}
	for k, v := range d.Headers {
		if strings.HasPrefix(k, "x-") {
			continue // broker bookkeeping such as x-delivery-count
		}
		if sv, ok := headerString(v); ok && bridge.ValidHeaderKey(k) {
			env.Headers[k] = sv
		}
	}
	env.Headers[HeaderExchange] = d.Exchange
	env.Headers[HeaderRoutingKey] = bridge.CleanHeaderValue(d.RoutingKey)
	for k, v := range map[string]string{
		HeaderContentType:     d.ContentType,
		HeaderContentEncoding: d.ContentEncoding,
		HeaderCorrelationID:   d.CorrelationId,
	} {
		if v = bridge.CleanHeaderValue(v); v != "" {
			env.Headers[k] = v
		}
	}
	if !d.Timestamp.IsZero() {
		env.Headers[HeaderTimestamp] = d.Timestamp.UTC().Format(time.RFC3339)
	}
	env.ID = bridge.CleanHeaderValue(d.MessageId)
	if env.ID == "" && s.opts.IDHeader != "" {
		if v, ok := headerString(d.Headers[s.opts.IDHeader]); ok {
			env.ID = v
		}
	}
	bridge.SetPartnerMessageID(env, env.ID)
	if env.ID == "" {
		env.ID = bridge.ContentID(s.spec.Partner, d.Body)
	}
	if len(d.Body) > s.opts.MaxMessageBytes {
		env.Rejection = bridge.Reject(bridge.ReasonTooLarge, "body of %d bytes exceeds max_message_bytes %d (sha256 %s)",
			len(d.Body), s.opts.MaxMessageBytes, bridge.PayloadDigest(d.Body))
		env.Payload = nil
	}
	connkit.RejectRedelivered(env, s.priorDeliveries(d)+1, s.opts.MaxDeliveries, "delivered")
	return env
}

// headerString renders scalar header values; tables and arrays are skipped.
func headerString(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	case bool:
		s = strconv.FormatBool(x)
	case float32:
		s = strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		s = x.UTC().Format(time.RFC3339)
	case amqp.Decimal:
		s = fmt.Sprintf("%de-%d", x.Value, x.Scale)
	default:
		n, ok := toInt(v)
		if !ok {
			return "", false
		}
		s = strconv.Itoa(n)
	}
	s = bridge.CleanHeaderValue(s)
	return s, s != ""
}
