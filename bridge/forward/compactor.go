package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// defaultPurgeInterval applies when Forward.PurgeInterval is unset.
const defaultPurgeInterval = time.Second

// compactor removes a partner's ERP-confirmed events from the ingest
// stream: one purge up to the consumer's ack floor per interval, one write
// where a work queue would make one per event (see the package doc).
// Nothing above the floor is purged, so nothing unconfirmed is lost.
//
// Confirmed events stay for the duplicate window, because JetStream
// rebuilds its duplicate index from the stored messages on restart; over
// half the stream's byte limit intake wins and the purge goes to the
// current floor.
type compactor struct {
	stream   jetstream.Stream
	cons     jetstream.Consumer
	subject  string
	interval time.Duration
	log      *slog.Logger
	// window is how long confirmed events are kept (the duplicate window).
	window time.Duration
	// maxBytes is the stream's byte limit, <= 0 for none.
	maxBytes int64
	now      func() time.Time
	// progress learns each ack floor seen, so a recreated consumer
	// resumes after it (see forwarder.reattach); may be nil.
	progress *progress
	// purgedTo is the highest stream sequence already purged.
	purgedTo uint64
	// floors are the ack floors seen, oldest first, at most one older
	// than the window.
	floors []floorAt
}

type floorAt struct {
	at    time.Time
	floor uint64
}

func newCompactor(stream jetstream.Stream, cons jetstream.Consumer, subject string, interval time.Duration, log *slog.Logger) *compactor {
	if interval <= 0 {
		interval = defaultPurgeInterval
	}
	return &compactor{stream: stream, cons: cons, subject: subject, interval: interval, log: log, now: time.Now}
}

// run purges every interval until ctx ends, then once more so a clean
// shutdown leaves only unconfirmed events, and those still inside the
// duplicate window, behind.
func (c *compactor) run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := c.purge(fctx); err != nil {
				c.log.Debug("final purge of confirmed events", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := c.purge(ctx); err != nil && ctx.Err() == nil {
				// Confirmed events stay a little longer; the next tick retries.
				c.log.Debug("purge of confirmed events", "err", err)
			}
		}
	}
}

// purge drops the partner's events confirmed at least a window ago.
func (c *compactor) purge(ctx context.Context) error {
	info, err := c.cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer info: %w", err)
	}
	floor := info.AckFloor.Stream
	if c.progress != nil {
		c.progress.sawFloor(floor)
	}
	target := c.retainedFloor(c.now(), floor)
	if target < floor && c.maxBytes > 0 {
		si, err := c.stream.Info(ctx)
		if err == nil && si.State.Bytes > uint64(c.maxBytes)/2 {
			target = floor
		}
	}
	return c.purgeTo(ctx, target)
}

// retainedFloor records floor as seen at now and returns the newest floor
// seen at least a window before now (0 when none is that old yet).
func (c *compactor) retainedFloor(now time.Time, floor uint64) uint64 {
	if c.window <= 0 {
		return floor
	}
	if n := len(c.floors); n == 0 || c.floors[n-1].floor < floor {
		c.floors = append(c.floors, floorAt{at: now, floor: floor})
	}
	cut := now.Add(-c.window)
	// The last sample at or before cut is the one that counts; older ones
	// are of no further use.
	i := sort.Search(len(c.floors), func(i int) bool { return c.floors[i].at.After(cut) })
	if i == 0 {
		return 0
	}
	c.floors = c.floors[i-1:]
	return c.floors[0].floor
}

func (c *compactor) purgeTo(ctx context.Context, floor uint64) error {
	if floor <= c.purgedTo {
		return nil
	}
	err := c.stream.Purge(ctx, jetstream.WithPurgeSubject(c.subject), jetstream.WithPurgeSequence(floor+1))
	if err != nil {
		return fmt.Errorf("purge %s up to %d: %w", c.subject, floor, err)
	}
	c.purgedTo = floor
	return nil
}

// ackFloorOf is the ack floor of a previous forwarder consumer, 0 when
// there is none. A fresh consumer that replaces it starts after that
// floor: what the old one confirmed is still stored (kept for the
// duplicate window) and must not reach the ERP a second time.
func ackFloorOf(ctx context.Context, js jetstream.JetStream, streamName, consumer string) (uint64, error) {
	cons, err := js.Consumer(ctx, streamName, consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("look up forwarder consumer: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("forwarder consumer info: %w", err)
	}
	return info.AckFloor.Stream, nil
}

// progress is what one partner's forwarder has finished (confirmed by the
// ERP, or dead-lettered): the last ack floor the compactor saw, and the
// stream sequences finished above it. If the consumer is lost (deleted by
// an operator, or by a JetStream that lost its state), its replacement
// resumes from there instead of handing confirmed events out again.
// Entries at or below the floor are dropped as it moves, so it holds about
// a purge interval's worth of events, plus those acknowledged out of order.
type progress struct {
	mu    sync.Mutex
	floor uint64
	done  map[uint64]struct{}
	// lost says done overflowed and was cleared: a resume can then
	// forward some confirmed events again (at-least-once).
	lost bool
}

// maxTrackedDone bounds progress.done (about 40 bytes an entry).
const maxTrackedDone = 1 << 18

func newProgress(floor uint64) *progress {
	return &progress{floor: floor, done: map[uint64]struct{}{}}
}

func (p *progress) finished(seq uint64) {
	if p == nil || seq == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq <= p.floor {
		return
	}
	if len(p.done) >= maxTrackedDone {
		clear(p.done)
		p.lost = true
	}
	p.done[seq] = struct{}{}
}

func (p *progress) sawFloor(floor uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if floor <= p.floor {
		return
	}
	p.floor = floor
	for seq := range p.done {
		if seq <= floor {
			delete(p.done, seq)
		}
	}
}

// resume returns the stream sequence a replacement consumer starts at
// (0: from the first stored event) and the finished events above it,
// which must be deleted from the stream before that consumer starts.
func (p *progress) resume() (start uint64, finished []uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.floor + 1
	for {
		if _, ok := p.done[next]; !ok {
			break
		}
		next++
	}
	for seq := range p.done {
		if seq > next {
			finished = append(finished, seq)
		}
	}
	sort.Slice(finished, func(i, j int) bool { return finished[i] < finished[j] })
	if next == 1 {
		return 0, finished
	}
	return next, finished
}

// resumed records that a replacement consumer starts at start and that
// the finished events above it were deleted from the stream.
func (p *progress) resumed(start uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if start > 0 {
		p.floor = max(p.floor, start-1)
	}
	clear(p.done)
}
