package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/connkit"
)

// SinkOptions configure the ERP sink on RabbitMQ.
type SinkOptions struct {
	// URL such as amqps://user:${ERP_AMQP_PASSWORD}@erp-mq:5671/erp.
	URL string     `yaml:"url"`
	TLS config.TLS `yaml:"tls"`
	// Exchange receives the ERP events.
	Exchange string `yaml:"exchange"`
	// RoutingKey may use {partner} and {type}.
	RoutingKey string `yaml:"routing_key"`
	// DeclareExchange declares Exchange (durable, of ExchangeType). Off by
	// default: a one-way ERP user has write permission only, not configure.
	DeclareExchange bool   `yaml:"declare_exchange"`
	ExchangeType    string `yaml:"exchange_type"`
	// Timeout bounds the wait for a batch's publisher confirms.
	Timeout time.Duration `yaml:"timeout"`
	// ConnectionName is shown in the broker's management tools.
	ConnectionName string `yaml:"connection_name"`
}

// Sink publishes to the ERP exchange with publisher confirms, the mandatory
// flag (an unroutable message is a failure, not a silent drop) and
// persistent delivery. It never consumes: the link is one-way.
type Sink struct {
	opts SinkOptions
	log  *slog.Logger

	// mu serializes batches on the one confirm-mode channel, which also
	// makes every returned message belong to the batch being confirmed.
	mu      sync.Mutex
	conn    *amqp.Connection
	ch      *amqp.Channel
	returns chan amqp.Return
}

// maxBatch bounds a batch so returned messages always fit the buffer the
// client library writes them to before it processes the matching confirm.
const maxBatch = 10000

// NewSink decodes and validates options; it does not connect.
func NewSink(node *yaml.Node, spec bridge.SinkSpec) (bridge.Sink, error) {
	var o SinkOptions
	if err := config.DecodeStrict(node, &o); err != nil {
		return nil, err
	}
	connkit.Default(&o.RoutingKey, "{partner}.{type}")
	connkit.Default(&o.ExchangeType, "topic")
	connkit.Default(&o.Timeout, 10*time.Second)
	connkit.Default(&o.ConnectionName, "dmzbridge-erp")
	var errs config.FieldErrors
	if o.URL == "" {
		errs.Add("url", "required")
	} else if _, err := amqp.ParseURI(o.URL); err != nil {
		errs.Add("url", "%v", err)
	}
	if o.Exchange == "" {
		errs.Add("exchange", "required (the default exchange cannot be made one-way by permissions)")
	}
	connkit.OneOf(&errs, "exchange_type", o.ExchangeType, "topic", "direct", "fanout", "headers")
	errs.Merge("tls", o.TLS.Validate())
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &Sink{opts: o, log: connkit.Logger(spec.Logger).With("connector", Name, "role", "erp-sink")}, nil
}

func (s *Sink) dial() (*amqp.Connection, error) {
	cfg := amqp.Config{Heartbeat: 10 * time.Second, Properties: amqp.Table{"connection_name": s.opts.ConnectionName}}
	return dial(s.opts.URL, s.opts.TLS, cfg, "ERP broker ")
}

// ensure opens the connection and confirm channel when missing; mu held.
func (s *Sink) ensure() error {
	if s.ch != nil && !s.ch.IsClosed() && !s.conn.IsClosed() {
		return nil
	}
	s.closeLocked()
	conn, err := s.dial()
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return fmt.Errorf("open ERP channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		conn.Close()
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	if s.opts.DeclareExchange {
		if err := ch.ExchangeDeclare(s.opts.Exchange, s.opts.ExchangeType, true, false, false, false, nil); err != nil {
			conn.Close()
			return fmt.Errorf("declare ERP exchange %s: %w", s.opts.Exchange, err)
		}
	}
	s.returns = ch.NotifyReturn(make(chan amqp.Return, maxBatch))
	s.conn, s.ch = conn, ch
	s.log.Info("ERP broker connected", "exchange", s.opts.Exchange)
	return nil
}

// Publish implements bridge.Sink.
func (s *Sink) Publish(ctx context.Context, batch []*bridge.ERPMessage) []error {
	errs := make([]error, len(batch))
	for start := 0; start < len(batch); start += maxBatch {
		end := min(start+maxBatch, len(batch))
		if chunk := s.publishChunk(ctx, batch[start:end]); chunk != nil {
			copy(errs[start:end], chunk)
		}
	}
	for _, e := range errs {
		if e != nil {
			return errs
		}
	}
	return nil
}

func (s *Sink) publishChunk(ctx context.Context, batch []*bridge.ERPMessage) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensure(); err != nil {
		return connkit.Fill(len(batch), err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	errs := make([]error, len(batch))
	confirms := make([]*amqp.DeferredConfirmation, len(batch))
	for i, m := range batch {
		dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, s.opts.Exchange, s.routingKey(m), true, false, publishing(m))
		if err != nil {
			// The channel is unusable now; the rest of the batch fails too.
			for j := i; j < len(batch); j++ {
				errs[j] = fmt.Errorf("publish to ERP exchange: %w", err)
			}
			s.closeLocked()
			return errs
		}
		confirms[i] = dc
	}
	for i, dc := range confirms {
		acked, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("no confirm from ERP broker for %s: %w", batch[i].ID, err)
		case !acked:
			errs[i] = fmt.Errorf("ERP broker nacked %s", batch[i].ID)
		}
	}
	s.collectReturns(batch, errs)
	return errs
}

// collectReturns marks messages the broker returned as unroutable. The
// broker sends basic.return before the basic.ack of the same message, and
// the client buffers it before handling the ack, so after all confirms are
// in every return of this batch is already waiting in the channel.
func (s *Sink) collectReturns(batch []*bridge.ERPMessage, errs []error) {
	index := map[string]int{}
	for {
		select {
		case r, ok := <-s.returns:
			if !ok {
				return
			}
			if len(index) == 0 {
				for i, m := range batch {
					index[m.ID] = i
				}
			}
			if i, found := index[r.MessageId]; found {
				errs[i] = fmt.Errorf("ERP broker returned %s as unroutable: %d %s (exchange %s, key %s)", r.MessageId, r.ReplyCode, r.ReplyText, r.Exchange, r.RoutingKey)
			}
		default:
			return
		}
	}
}

func publishing(m *bridge.ERPMessage) amqp.Publishing {
	h := make(amqp.Table, len(m.Headers))
	for k, v := range m.Headers {
		h[k] = v
	}
	// The normalizer names the header in lower case (content-type), as
	// CloudEvents' AMQP binding does; the property must carry it too.
	ct := "application/json"
	for k, v := range m.Headers {
		if strings.EqualFold(k, "content-type") {
			ct = v
		}
	}
	return amqp.Publishing{
		MessageId:    m.ID,
		DeliveryMode: amqp.Persistent,
		ContentType:  ct,
		Timestamp:    time.Now().UTC(),
		Type:         m.EventType,
		AppId:        "dmzbridge",
		Headers:      h,
		Body:         m.Body,
	}
}

func (s *Sink) routingKey(m *bridge.ERPMessage) string {
	t := m.EventType
	if t == "" {
		t = "unknown"
	}
	return bridge.ExpandTarget(s.opts.RoutingKey, m.Partner, t)
}

// Ready implements bridge.Sink.
func (s *Sink) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ensure()
}

// Close implements bridge.Sink.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	return nil
}

func (s *Sink) closeLocked() {
	if s.conn != nil {
		if err := s.conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			s.log.Debug("close ERP connection", "err", err)
		}
	}
	s.conn, s.ch, s.returns = nil, nil, nil
}
