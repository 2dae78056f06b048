package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("audit writer is closed")

// WriterOptions tune batching; zero values take defaults.
type WriterOptions struct {
	// FlushInterval bounds how long a record waits for its batch (200ms).
	FlushInterval time.Duration
	// MaxBatch is the most records per stored message (512).
	MaxBatch int
	// Buffer is how many records may wait before Write blocks (16384).
	Buffer int
	// Window bounds batches awaiting their PubAck (64).
	Window int
	Logger *slog.Logger
}

// Writer stores audit records in batches: records are grouped per partner
// into one JetStream message (JSON lines) and published asynchronously, so
// the trail costs a few stored messages per thousand events instead of
// doubling the pipeline's writes. Write never drops: when the buffer is full
// it blocks, which slows the pipeline rather than losing a record.
type Writer struct {
	js   jetstream.JetStream
	topo store.Topology
	opts WriterOptions
	log  *slog.Logger
	id   string
	seq  atomic.Uint64

	mu      sync.RWMutex
	closing bool
	in      chan Record
	acks    chan pendingBatch
	done    chan struct{}

	life       context.Context
	cancelLife context.CancelFunc

	written atomic.Int64
	lost    atomic.Int64
}

type pendingBatch struct {
	fut jetstream.PubAckFuture
	msg *nats.Msg
	n   int
}

// NewWriter starts a writer on js. Give it a JetStream context of its own
// (jetstream.New on the bridge's connection) so its async window is apart
// from the ingest writer's.
func NewWriter(js jetstream.JetStream, topo store.Topology, opts WriterOptions) *Writer {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 200 * time.Millisecond
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 16384
	}
	if opts.Window <= 0 {
		opts.Window = 64
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	life, cancel := context.WithCancel(context.Background())
	w := &Writer{
		js: js, topo: topo, opts: opts, log: opts.Logger, id: hex.EncodeToString(rnd[:]),
		in: make(chan Record, opts.Buffer), acks: make(chan pendingBatch, opts.Window),
		done: make(chan struct{}), life: life, cancelLife: cancel,
	}
	ackDone := make(chan struct{})
	go func() { defer close(ackDone); w.ackLoop() }()
	go func() { w.flushLoop(); <-ackDone; close(w.done) }()
	return w
}

// Write queues a record. It blocks while the buffer is full.
func (w *Writer) Write(rec Record) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closing {
		return ErrClosed
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	w.in <- rec
	return nil
}

// Written is how many records have been stored (PubAck received).
func (w *Writer) Written() int64 { return w.written.Load() }

// Lost is how many records could not be stored before Close gave up.
func (w *Writer) Lost() int64 { return w.lost.Load() }

// Close stores every queued record and waits for its PubAck. When ctx ends
// first, remaining retries give up and Close reports how many were lost.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closing {
		w.closing = true
		close(w.in)
	}
	w.mu.Unlock()
	stop := context.AfterFunc(ctx, w.cancelLife)
	defer stop()
	select {
	case <-w.done:
	case <-ctx.Done():
		<-w.done
	}
	w.cancelLife()
	if n := w.lost.Load(); n > 0 {
		return fmt.Errorf("audit: %d records not stored", n)
	}
	return nil
}

func (w *Writer) flushLoop() {
	defer close(w.acks)
	batches := map[string][]Record{}
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	flushAll := func() {
		for p, recs := range batches {
			if len(recs) > 0 {
				w.publish(p, recs)
				// publish encodes the records before it returns, so the
				// slice is reused rather than grown anew for every batch.
				batches[p] = recs[:0]
			}
		}
	}
	for {
		select {
		case rec, ok := <-w.in:
			if !ok {
				flushAll()
				return
			}
			b := append(batches[rec.Partner], rec)
			if len(b) >= w.opts.MaxBatch {
				w.publish(rec.Partner, b)
				b = b[:0]
			}
			batches[rec.Partner] = b
		case <-tick.C:
			flushAll()
		}
	}
}

func (w *Writer) publish(partner string, recs []Record) {
	// JSON lines, as encoding/json's Encoder wrote them.
	buf := make([]byte, 0, len(recs)*320)
	for i := range recs {
		buf = append(recs[i].AppendJSON(buf), '\n')
	}
	subjectPartner := partner
	if subjectPartner == "" {
		subjectPartner = "_unknown"
	}
	msg := nats.NewMsg(Subject(w.topo, subjectPartner))
	msg.Data = buf
	msg.Header.Set(nats.MsgIdHdr, "audit-"+w.id+"-"+strconv.FormatUint(w.seq.Add(1), 10))
	b := bridge.Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second}
	for {
		fut, err := w.js.PublishMsgAsync(msg)
		if err == nil {
			w.acks <- pendingBatch{fut: fut, msg: msg, n: len(recs)}
			return
		}
		if !bridge.Sleep(w.life, b.Next()) {
			w.lost.Add(int64(len(recs)))
			w.log.Error("audit batch not stored", "records", len(recs), "err", err)
			return
		}
	}
}

func (w *Writer) ackLoop() {
	for p := range w.acks {
		var err error
		select {
		case <-p.fut.Ok():
		case err = <-p.fut.Err():
			err = w.republish(p.msg, err)
		case <-w.life.Done():
			// Close's deadline passed while this PubAck was still out
			// (e.g. lost with a stream leader that died).
			err = w.life.Err()
		}
		if err != nil {
			w.lost.Add(int64(p.n))
			w.log.Error("audit batch not stored", "records", p.n, "err", err)
			continue
		}
		w.written.Add(int64(p.n))
	}
}

// republish retries synchronously with the same Nats-Msg-Id, so a batch
// that did reach the stream is not stored twice.
func (w *Writer) republish(orig *nats.Msg, err error) error {
	msg := &nats.Msg{Subject: orig.Subject, Header: orig.Header, Data: orig.Data}
	b := bridge.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		w.log.Warn("audit batch not stored, retrying", "subject", msg.Subject, "err", err)
		if !bridge.Sleep(w.life, b.Next()) {
			return err
		}
		ctx, cancel := context.WithTimeout(w.life, 10*time.Second)
		_, err = w.js.PublishMsg(ctx, msg)
		cancel()
		if err == nil {
			return nil
		}
	}
}

// Observer records the pipeline's decisions: a received record when an
// event enters (digest of the payload as the partner sent it), a
// dead-lettered record with the reason code, a forwarded record once the
// ERP confirmed (digest of the stored, masked payload). Forwarding failures
// that will be retried are not decisions; metrics count them.
type Observer struct {
	W   *Writer
	Now func() time.Time
	Log *slog.Logger
}

func (o *Observer) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Observer) write(r Record) {
	if err := o.W.Write(r); err != nil && o.Log != nil {
		o.Log.Error("audit record after close", "action", r.Action, "partner", r.Partner, "id", r.MessageID)
	}
}

func (o *Observer) Received(env *bridge.Envelope) {
	o.write(FromEnvelope(ActionReceived, OutcomeAccepted, env, o.now()))
}

func (o *Observer) Stored(*bridge.Envelope) {}

func (o *Observer) DeadLettered(env *bridge.Envelope, r *bridge.Rejection) {
	rec := FromEnvelope(ActionDeadLettered, r.Reason, env, o.now())
	rec.Reason = r.Reason
	o.write(rec)
}

func (o *Observer) Forwarded(env *bridge.Envelope, _ time.Duration) {
	o.write(FromEnvelope(ActionForwarded, OutcomeConfirmed, env, o.now()))
}

func (o *Observer) ForwardFailed(*bridge.Envelope, error) {}
