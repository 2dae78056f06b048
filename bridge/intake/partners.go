package intake

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/forward"
)

// partnerRuns holds the goroutines Run started per partner, so a reload
// can start, stop and restart one partner's source or forwarder while
// the others run on untouched.
type partnerRuns struct {
	mu sync.Mutex
	// srcCtx ends when Run's ctx does; fwdCtx when Run stops forwarding.
	srcCtx, fwdCtx context.Context
	swg, fwg       *sync.WaitGroup
	sources        map[string]*runHandle
	forwarders     map[string]*runHandle
	// draining holds removed partners whose forwarder still drains; such
	// a partner cannot be added again until it is done.
	draining map[string]bool
	stopped  bool
}

type runHandle struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (h *runHandle) stop() {
	h.cancel()
	<-h.done
}

func (p *Pipeline) startForwarder(partner string) {
	r := p.runs.Load()
	ctx, cancel := context.WithCancel(r.fwdCtx)
	h := &runHandle{cancel: cancel, done: make(chan struct{})}
	r.forwarders[partner] = h
	r.fwg.Add(1)
	go func() {
		defer r.fwg.Done()
		defer close(h.done)
		forward.Run(ctx, p.forwardConfig(partner), partner)
	}()
}

func (p *Pipeline) startSource(partner string, src bridge.Source) {
	r := p.runs.Load()
	ctx, cancel := context.WithCancel(r.srcCtx)
	h := &runHandle{cancel: cancel, done: make(chan struct{})}
	r.sources[partner] = h
	r.swg.Add(1)
	go func() {
		defer r.swg.Done()
		defer close(h.done)
		if err := src.Run(ctx, p); err != nil && ctx.Err() == nil {
			p.log.Error("inbound connector stopped", "partner", partner, "err", err)
		}
	}()
}

// errNotRunning is returned by the partner changes before Run starts and
// after it began to shut down.
var errNotRunning = fmt.Errorf("pipeline is not running")

func (p *Pipeline) lockRuns() (*partnerRuns, error) {
	r := p.runs.Load()
	if r == nil {
		return nil, errNotRunning
	}
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil, errNotRunning
	}
	return r, nil
}

// AddPartner starts a partner's forwarder and source on a running
// pipeline.
func (p *Pipeline) AddPartner(partner string, src bridge.Source) error {
	r, err := p.lockRuns()
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if _, ok := r.forwarders[partner]; ok {
		return fmt.Errorf("partner %s already runs", partner)
	}
	if r.draining[partner] {
		return fmt.Errorf("partner %s is still draining after its removal; add it again once it has stopped", partner)
	}
	p.opts.Forwarders.Starting(partner)
	p.startForwarder(partner)
	if src != nil {
		p.startSource(partner, src)
	}
	return nil
}

// ReplaceSource stops a partner's source (it stops taking messages and
// returns; what it took in is stored) and starts src in its place. The
// partner's forwarder and every other partner run on.
func (p *Pipeline) ReplaceSource(partner string, src bridge.Source) error {
	r, err := p.lockRuns()
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if h, ok := r.sources[partner]; ok {
		h.stop()
		delete(r.sources, partner)
	}
	p.startSource(partner, src)
	return nil
}

// RestartForwarder stops a partner's forwarder and starts a new one, which
// picks up the pipeline's current retry settings. Unconfirmed events are
// handed to the new one.
func (p *Pipeline) RestartForwarder(partner string) error {
	r, err := p.lockRuns()
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if h, ok := r.forwarders[partner]; ok {
		h.stop()
	}
	p.startForwarder(partner)
	return nil
}

// RemovePartner drains a partner and stops it: its source stops taking
// messages, then its forwarder runs until every stored event of the
// partner is confirmed by the ERP or dead-lettered, or until ctx ends.
// What is still unconfirmed then stays in the ingest stream, and is
// forwarded when the partner is added again.
func (p *Pipeline) RemovePartner(ctx context.Context, partner string) error {
	r, err := p.lockRuns()
	if err != nil {
		return err
	}
	src, fwd := r.sources[partner], r.forwarders[partner]
	delete(r.sources, partner)
	delete(r.forwarders, partner)
	if fwd != nil {
		r.draining[partner] = true
	}
	r.mu.Unlock()
	if src != nil {
		src.stop()
	}
	if fwd == nil {
		return nil
	}
	defer func() {
		fwd.stop()
		p.opts.Forwarders.Forget(partner)
		r.mu.Lock()
		delete(r.draining, partner)
		r.mu.Unlock()
	}()
	return p.waitDrained(ctx, partner)
}

// waitDrained polls the partner's forwarder consumer until nothing of the
// partner waits in the ingest stream.
func (p *Pipeline) waitDrained(ctx context.Context, partner string) error {
	stream, name := p.opts.Topology.IngestStream(), p.opts.Topology.ForwarderConsumer(partner)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err := p.opts.JS.Consumer(cctx, stream, name)
		if err == nil {
			info, ierr := cons.Info(cctx)
			if ierr == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				cancel()
				return nil
			}
		}
		cancel()
		if !bridge.Sleep(ctx, 100*time.Millisecond) {
			return fmt.Errorf("partner %s not drained: %w; its unconfirmed events stay in the ingest stream", partner, ctx.Err())
		}
	}
}

// Draining reports whether a removed partner's forwarder still drains.
func (p *Pipeline) Draining(partner string) bool {
	r, err := p.lockRuns()
	if err != nil {
		return false
	}
	defer r.mu.Unlock()
	return r.draining[partner]
}

// RunningPartners lists the partners whose forwarder runs.
func (p *Pipeline) RunningPartners() []string {
	r, err := p.lockRuns()
	if err != nil {
		return nil
	}
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.forwarders))
	for name := range r.forwarders {
		out = append(out, name)
	}
	return out
}

// StopSource stops a partner's source: it stops taking messages and
// returns once what it took in is handed on. Its forwarder runs on (see
// RemovePartner).
func (p *Pipeline) StopSource(partner string) error {
	r, err := p.lockRuns()
	if err != nil {
		return err
	}
	h := r.sources[partner]
	delete(r.sources, partner)
	r.mu.Unlock()
	if h != nil {
		h.stop()
	}
	return nil
}
