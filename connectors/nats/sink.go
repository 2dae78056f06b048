package nats

import (
	"context"
	"fmt"
	"log/slog"
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

// SinkOptions configure the ERP sink on NATS.
type SinkOptions struct {
	Endpoint `yaml:",inline"`
	// Subject receives the ERP events; {partner} and {type} are replaced.
	Subject string `yaml:"subject"`
	// JetStream: a stream captures Subject and each publish waits for its
	// PubAck. Without it a publish counts as confirmed once the server has
	// flushed it, which survives no server crash.
	JetStream bool `yaml:"jetstream"`
	// Timeout bounds the wait for a batch's confirmations.
	Timeout time.Duration `yaml:"timeout"`
}

// Sink publishes normalized events to the ERP's NATS subject. It never
// subscribes on the ERP side: the link is one-way (PubAcks arrive on the
// client's own inbox).
type Sink struct {
	opts SinkOptions
	log  *slog.Logger

	mu sync.Mutex
	nc *nats.Conn
	js jetstream.JetStream
}

// NewSink decodes and validates options; it does not connect.
func NewSink(node *yaml.Node, spec bridge.SinkSpec) (bridge.Sink, error) {
	var o SinkOptions
	if err := config.DecodeStrict(node, &o); err != nil {
		return nil, err
	}
	connkit.Default(&o.Timeout, 10*time.Second)
	var errs config.FieldErrors
	o.Endpoint.validate(&errs)
	if o.Subject == "" {
		errs.Add("subject", "required")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &Sink{opts: o, log: connkit.Logger(spec.Logger).With("connector", Name, "role", "erp-sink")}, nil
}

func (s *Sink) conn() (*nats.Conn, jetstream.JetStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		return s.nc, s.js, nil
	}
	nc, err := s.opts.dial("dmzbridge-erp", s.log)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	s.nc, s.js = nc, js
	return nc, js, nil
}

// Publish implements bridge.Sink.
func (s *Sink) Publish(ctx context.Context, batch []*bridge.ERPMessage) []error {
	nc, js, err := s.conn()
	if err != nil {
		return connkit.Fill(len(batch), err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	// Publishing while (re)connecting would only fill the client's buffer;
	// wait for the link so a short blip does not turn into a retry.
	if err := waitConnected(ctx, nc); err != nil {
		return connkit.Fill(len(batch), err)
	}
	if s.opts.JetStream {
		return s.publishJetStream(ctx, js, batch)
	}
	for _, m := range batch {
		if err := nc.PublishMsg(s.msg(m)); err != nil {
			return connkit.Fill(len(batch), fmt.Errorf("publish to ERP: %w", err))
		}
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return connkit.Fill(len(batch), fmt.Errorf("flush to ERP: %w", err))
	}
	return nil
}

func (s *Sink) publishJetStream(ctx context.Context, js jetstream.JetStream, batch []*bridge.ERPMessage) []error {
	futs := make([]jetstream.PubAckFuture, len(batch))
	errs := make([]error, len(batch))
	failed := false
	for i, m := range batch {
		futs[i], errs[i] = js.PublishMsgAsync(s.msg(m))
		failed = failed || errs[i] != nil
	}
	for i, f := range futs {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs[i], failed = fmt.Errorf("ERP stream refused %s: %w", batch[i].ID, err), true
		case <-ctx.Done():
			errs[i], failed = fmt.Errorf("no PubAck from ERP stream for %s: %w", batch[i].ID, ctx.Err()), true
		}
	}
	if !failed {
		return nil
	}
	return errs
}

func (s *Sink) msg(m *bridge.ERPMessage) *nats.Msg {
	subject := bridge.ExpandTarget(s.opts.Subject, m.Partner, typeToken(m.EventType))
	b := store.NewHeaderBuilder(len(m.Headers)+1, 0)
	for k, v := range m.Headers {
		b.Set(k, v)
	}
	b.Set(nats.MsgIdHdr, m.ID)
	return &nats.Msg{Subject: subject, Header: b.Header(), Data: m.Body}
}

func typeToken(t string) string {
	if t == "" {
		return "unknown"
	}
	return t
}

// Ready implements bridge.Sink.
func (s *Sink) Ready() error {
	nc, _, err := s.conn()
	if err != nil {
		return err
	}
	if st := nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("ERP NATS connection is %v", st)
	}
	return nil
}

// Close implements bridge.Sink.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		s.nc.Close()
		s.nc = nil
	}
	return nil
}

func waitConnected(ctx context.Context, nc *nats.Conn) error {
	for nc.Status() != nats.CONNECTED {
		if nc.IsClosed() {
			return fmt.Errorf("ERP NATS connection is closed")
		}
		if !bridge.Sleep(ctx, 20*time.Millisecond) {
			return fmt.Errorf("ERP NATS connection is %v: %w", nc.Status(), ctx.Err())
		}
	}
	return nil
}
