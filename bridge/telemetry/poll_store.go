package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// oldestAge is how long the partner's oldest event not yet confirmed by
// the ERP has been stored: the first message of the partner's subject past
// the forwarder consumer's ack floor. A backlog that only grows slowly can
// still hold an event stuck for hours; its age is what an SLO is about.
func (p *Poller) oldestAge(ctx context.Context, partner string, now time.Time) (time.Duration, error) {
	info, err := p.forwarderInfo(ctx, partner)
	if err != nil {
		return 0, err
	}
	if info.NumPending+uint64(info.NumAckPending) == 0 {
		return 0, nil
	}
	s, err := p.JS.Stream(ctx, p.Topology.IngestStream())
	if err != nil {
		return 0, err
	}
	msg, err := s.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(p.Topology.IngestSubject(partner)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		// Confirmed and purged between the two calls.
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("oldest unconfirmed event: %w", err)
	}
	if age := now.Sub(msg.Time); age > 0 {
		return age, nil
	}
	return 0, nil
}

// storeUsage measures the bridge's streams against their max_bytes and the
// account's storage against its limit, so an alert fires before a full
// store makes JetStream refuse new events.
func (p *Poller) storeUsage(ctx context.Context) ([]StreamUsage, *AccountUsage, error) {
	var out []StreamUsage
	var errs []error
	for _, name := range []string{p.Topology.IngestStream(), p.Topology.DeadLetterStream()} {
		s, err := p.JS.Stream(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", name, err))
			continue
		}
		// CachedInfo: the poll just looked the stream up, and a second
		// round trip per stream would only make it older by a millisecond.
		info := s.CachedInfo()
		out = append(out, StreamUsage{Stream: name, Bytes: info.State.Bytes, MaxBytes: info.Config.MaxBytes})
	}
	ai, err := p.JS.AccountInfo(ctx)
	if err != nil {
		return out, nil, errors.Join(append(errs, fmt.Errorf("account info: %w", err))...)
	}
	acct := &AccountUsage{Bytes: ai.Store, Limit: ai.Limits.MaxStore}
	if acct.Limit <= 0 && p.StoreLimit > 0 {
		acct.Limit = p.StoreLimit
	}
	return out, acct, errors.Join(errs...)
}
