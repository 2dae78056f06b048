package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Atomic batch publish headers (nats-server ≥ 2.12, ADR-50).
const (
	HeaderBatchID     = "Nats-Batch-Id"
	HeaderBatchSeq    = "Nats-Batch-Sequence"
	HeaderBatchCommit = "Nats-Batch-Commit"
)

// JetStream error codes the batch writer tells apart.
const (
	errCodeAtomicDisabled  = 10174
	errCodeTooManyInflight = 10210
)

// maxBatchesInFlight stays below nats-server's limit of 50 open atomic
// batches per stream, leaving room for other writers (audit, CLI replay).
const maxBatchesInFlight = 32

// Writer stores messages in JetStream and reports each outcome through
// done: nil only once the message is durable (per the server's
// durability), an error when it was not stored. A non-nil return from
// Write means done will not be called.
type Writer interface {
	Write(ctx context.Context, msg *nats.Msg, done func(error)) error
	Close(ctx context.Context) error
}

// batchWriter group-commits messages: per stream (every partner's ingest
// subject together, or every dead-letter subject) it gathers messages into
// a JetStream atomic batch of up to MaxMessages, closed after Linger, and
// calls each message's done only after the commit's PubAck, so under
// sync_interval: always one fsync covers the batch. Grouping by stream
// matters because a stream commits its batches one after the other.
//
// A batch that fails for any reason is handed message by message to a
// msgWriter, which publishes each with its own Nats-Msg-Id: if the batch
// was in fact committed the copies are dropped as duplicates.
type batchWriter struct {
	nc       *nats.Conn
	opts     config.Batch
	log      *slog.Logger
	fallback *msgWriter
	slots    chan struct{}
	// disabled turns group commit off for good once the server says the
	// stream does not allow atomic publish.
	disabled atomic.Bool

	mu       sync.Mutex
	closing  bool
	groups   map[string]*batchGroup
	groupOf  func(subject string) string
	inflight sync.WaitGroup
	loops    sync.WaitGroup

	life       context.Context
	cancelLife context.CancelFunc

	batches   atomic.Int64
	committed atomic.Int64
	fellBack  atomic.Int64
}

type batchItem struct {
	msg  *nats.Msg
	done func(error)
}

type batchEntry struct {
	msg   *nats.Msg
	done  func(error)
	extra []func(error)
}

func (e *batchEntry) finish(err error) {
	e.done(err)
	for _, d := range e.extra {
		d(err)
	}
}

type batchGroup struct {
	in  chan batchItem
	sem chan struct{}
}

// newBatchWriter group-commits through js's connection; single publishes
// that a failed batch falls back to go through a msgWriter on js.
// groupOf names the batch a subject's messages join; all subjects of one
// group must belong to one stream (an atomic batch spans one stream). Nil
// gives every subject a batch of its own.
func newBatchWriter(js jetstream.JetStream, opts config.Batch, window int, stallWait time.Duration, groupOf func(string) string, log *slog.Logger) *batchWriter {
	opts = opts.WithDefaults()
	if groupOf == nil {
		groupOf = func(subject string) string { return subject }
	}
	life, cancel := context.WithCancel(context.Background())
	return &batchWriter{
		nc:       js.Conn(),
		opts:     opts,
		log:      log,
		fallback: newMsgWriter(js, window, stallWait, log),
		slots:    make(chan struct{}, maxBatchesInFlight),
		groups:   map[string]*batchGroup{},
		groupOf:  groupOf,
		life:     life, cancelLife: cancel,
	}
}

// Write queues msg for the next batch on its subject. It blocks while that
// subject's queue is full, which is how backpressure reaches the source.
func (w *batchWriter) Write(ctx context.Context, msg *nats.Msg, done func(error)) error {
	if w.disabled.Load() {
		return w.fallback.Write(ctx, msg, done)
	}
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return ErrClosed
	}
	key := w.groupOf(msg.Subject)
	g := w.groups[key]
	if g == nil {
		g = &batchGroup{
			in:  make(chan batchItem, w.opts.MaxMessages),
			sem: make(chan struct{}, w.opts.InFlight),
		}
		w.groups[key] = g
		w.loops.Add(1)
		go w.run(g)
	}
	w.inflight.Add(1)
	w.mu.Unlock()
	defer w.inflight.Done()
	select {
	case g.in <- batchItem{msg: msg, done: done}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queue %s for batch %s: %w", msg.Subject, key, ctx.Err())
	}
}

// run gathers one group's messages into batches and commits them.
func (w *batchWriter) run(g *batchGroup) {
	defer w.loops.Done()
	var commits sync.WaitGroup
	defer commits.Wait()
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		first, ok := <-g.in
		if !ok {
			return
		}
		batch := make([]*batchEntry, 0, min(w.opts.MaxMessages, 64))
		ids := make(map[string]int, 64)
		closed := false
		add := func(it batchItem) {
			// The server rejects a whole batch that holds one id twice, so a
			// redelivered copy joins the entry already in the batch.
			id := it.msg.Header.Get(bridge.HeaderMsgID)
			if i, dup := ids[id]; dup && id != "" {
				batch[i].extra = append(batch[i].extra, it.done)
				return
			}
			if id != "" {
				ids[id] = len(batch)
			}
			batch = append(batch, &batchEntry{msg: it.msg, done: it.done})
		}
		add(first)
		linger.Reset(w.opts.Linger)
		lingering, haveSlot := true, false
	gather:
		for len(batch) < w.opts.MaxMessages {
			if lingering {
				select {
				case it, ok := <-g.in:
					if !ok {
						closed = true
						break gather
					}
					add(it)
				case <-linger.C:
					lingering = false
				}
				continue
			}
			// Past the linger: commit as soon as a slot frees up, and keep
			// filling the batch while none is free.
			select {
			case g.sem <- struct{}{}:
				haveSlot = true
				break gather
			case it, ok := <-g.in:
				if !ok {
					closed = true
					break gather
				}
				add(it)
			}
		}
		if lingering {
			linger.Stop()
		}
		if !haveSlot {
			g.sem <- struct{}{}
		}
		// The batch is sent from this goroutine, so a subject's batches reach
		// the stream in the order their events arrived; only the wait for the
		// commit's PubAck runs alongside the next batch.
		pending := w.send(batch)
		commits.Add(1)
		go func(batch []*batchEntry) {
			defer commits.Done()
			defer func() { <-g.sem }()
			w.settle(batch, pending)
		}(batch)
		if closed {
			return
		}
	}
}

// sentBatch is a batch on its way: its id and where the commit's reply
// arrives, or the error that kept it from being sent.
type sentBatch struct {
	id  string
	sub *nats.Subscription
	err error
}

// send takes a server-wide batch slot and publishes the batch.
func (w *batchWriter) send(batch []*batchEntry) sentBatch {
	select {
	case w.slots <- struct{}{}:
	case <-w.life.Done():
		return sentBatch{err: w.life.Err()}
	}
	sb := w.publishBatch(batch)
	if sb.err != nil {
		<-w.slots
	}
	return sb
}

// settle waits for the commit's PubAck and reports each message's outcome.
func (w *batchWriter) settle(batch []*batchEntry, sb sentBatch) {
	var err error
	if sb.err != nil {
		err = sb.err
	} else {
		err = w.awaitCommit(batch, sb)
		<-w.slots
	}
	b := bridge.Backoff{Initial: 50 * time.Millisecond, Max: time.Second}
	for tries := 0; isTooManyInflight(err) && tries < 20; tries++ {
		if !bridge.Sleep(w.life, b.Next()) {
			break
		}
		// Out of order now, but the server refused the batch, so nothing
		// of it is stored yet.
		if sb = w.send(batch); sb.err != nil {
			err = sb.err
			continue
		}
		err = w.awaitCommit(batch, sb)
		<-w.slots
	}
	w.batches.Add(1)
	if err == nil {
		w.committed.Add(int64(len(batch)))
		for _, e := range batch {
			e.finish(nil)
		}
		return
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeAtomicDisabled {
		if w.disabled.CompareAndSwap(false, true) {
			w.log.Warn("stream does not allow atomic publish; group commit off, publishing one message at a time",
				"subject", batch[0].msg.Subject)
		}
	} else {
		w.log.Warn("batch not committed; publishing its messages one by one with their ids",
			"subject", batch[0].msg.Subject, "messages", len(batch), "err", err)
	}
	w.fellBack.Add(int64(len(batch)))
	for _, e := range batch {
		delete(e.msg.Header, HeaderBatchID)
		delete(e.msg.Header, HeaderBatchSeq)
		delete(e.msg.Header, HeaderBatchCommit)
		if werr := w.fallback.Write(w.life, e.msg, e.finish); werr != nil {
			e.finish(werr)
		}
	}
}

// batchAck is the commit's reply: a PubAck with the batch fields, or an
// API error.
type batchAck struct {
	Error    *jetstream.APIError `json:"error,omitempty"`
	Stream   string              `json:"stream"`
	Sequence uint64              `json:"seq"`
	BatchID  string              `json:"batch"`
	Count    int                 `json:"count"`
}

// publishBatch sends the batch's messages with the batch headers. Only the
// commit carries a reply subject: the server answers the others only with
// empty acks, and any failure among them makes the commit fail, so one
// round trip per batch suffices.
func (w *batchWriter) publishBatch(batch []*batchEntry) sentBatch {
	id := nuid.Next()
	last := len(batch) - 1
	for i, e := range batch {
		h := e.msg.Header
		h[HeaderBatchID] = []string{id}
		h[HeaderBatchSeq] = []string{strconv.Itoa(i + 1)}
		if i < last {
			delete(h, HeaderBatchCommit)
			if err := w.nc.PublishMsg(e.msg); err != nil {
				return sentBatch{id: id, err: fmt.Errorf("publish batch %s message %d: %w", id, i+1, err)}
			}
		}
	}
	inbox := w.nc.NewRespInbox()
	sub, err := w.nc.SubscribeSync(inbox)
	if err != nil {
		return sentBatch{id: id, err: fmt.Errorf("commit batch %s: %w", id, err)}
	}
	commit := batch[last].msg
	commit.Header[HeaderBatchCommit] = []string{"1"}
	commit.Reply = inbox
	err = w.nc.PublishMsg(commit)
	commit.Reply = ""
	if err != nil {
		_ = sub.Unsubscribe()
		return sentBatch{id: id, err: fmt.Errorf("commit batch %s: %w", id, err)}
	}
	return sentBatch{id: id, sub: sub}
}

// awaitCommit waits for the commit's PubAck and checks it covers the batch.
func (w *batchWriter) awaitCommit(batch []*batchEntry, sb sentBatch) error {
	defer func() { _ = sb.sub.Unsubscribe() }()
	ctx, cancel := context.WithTimeout(w.life, w.opts.CommitTimeout)
	defer cancel()
	resp, err := sb.sub.NextMsgWithContext(ctx)
	if err != nil {
		return fmt.Errorf("commit batch %s: no PubAck: %w", sb.id, err)
	}
	var ack batchAck
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return fmt.Errorf("commit batch %s: unreadable reply %q: %w", sb.id, resp.Data, err)
	}
	if ack.Error != nil {
		return fmt.Errorf("commit batch %s: %w", sb.id, ack.Error)
	}
	if ack.BatchID != sb.id || ack.Count != len(batch) {
		// A server without atomic publish stores the commit as a plain
		// message; what became of the others is unknown.
		return fmt.Errorf("commit batch %s: server acknowledged batch %q with %d messages, not %d", sb.id, ack.BatchID, ack.Count, len(batch))
	}
	return nil
}

func isTooManyInflight(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeTooManyInflight
}

// batchStats are the writer's counters since start.
type batchStats struct {
	Batches   int64
	Committed int64
	FellBack  int64
}

// Stats reports how many batches were attempted, how many messages they
// committed and how many went the single-publish way instead.
func (w *batchWriter) Stats() batchStats {
	return batchStats{Batches: w.batches.Load(), Committed: w.committed.Load(), FellBack: w.fellBack.Load()}
}

// Close stops accepting writes, commits what is queued and waits until
// every accepted write has its outcome. When ctx ends first, pending work
// gives up and reports an error, so sources redeliver.
func (w *batchWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		w.loops.Wait()
		return nil
	}
	w.closing = true
	w.mu.Unlock()
	// Past the deadline both the batches and their single-publish retries
	// give up, so every outcome is reported and Close returns.
	stop := context.AfterFunc(ctx, func() {
		w.cancelLife()
		w.fallback.cancelLife()
	})
	defer stop()
	w.inflight.Wait()
	w.mu.Lock()
	for _, g := range w.groups {
		close(g.in)
	}
	w.mu.Unlock()
	w.loops.Wait()
	err := w.fallback.Close(ctx)
	w.cancelLife()
	if err != nil {
		return err
	}
	return ctx.Err()
}

// NewWriter picks the writer for the configured durability: group commit
// where it is enabled, asynchronous single publishes otherwise.
func NewWriter(js jetstream.JetStream, cfg config.JetStream, groupOf func(string) string, log *slog.Logger) Writer {
	if cfg.Batch.Enabled(cfg.Durability) {
		return newBatchWriter(js, cfg.Batch, cfg.MaxPending, cfg.StallWait, groupOf, log)
	}
	return newMsgWriter(js, cfg.MaxPending, cfg.StallWait, log)
}
