package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrClosed is returned by Write once the writer is closed (the pipeline
// is shutting down).
var ErrClosed = errors.New("pipeline is closed")

// msgWriter publishes to JetStream asynchronously with a bounded window
// and reports each message's outcome only after its PubAck. A failed
// publish is retried with the same Nats-Msg-Id until it is stored or the
// writer is closed: an error never turns into an acknowledgement.
type msgWriter struct {
	js        jetstream.JetStream
	stallWait time.Duration
	log       *slog.Logger

	mu       sync.RWMutex
	closing  bool
	inflight sync.WaitGroup

	pending  chan pendingPub
	loopDone chan struct{}
	// life bounds retries of failed publishes; cancelled by Close once its
	// drain deadline passes.
	life       context.Context
	cancelLife context.CancelFunc
}

type pendingPub struct {
	fut  jetstream.PubAckFuture
	msg  *nats.Msg
	done func(error)
}

// newMsgWriter starts the writer's acknowledgement loop. js must be made
// with WithPublishAsyncMaxPending so the window is bounded.
func newMsgWriter(js jetstream.JetStream, window int, stallWait time.Duration, log *slog.Logger) *msgWriter {
	life, cancel := context.WithCancel(context.Background())
	w := &msgWriter{
		js: js, stallWait: stallWait, log: log,
		pending:  make(chan pendingPub, window),
		loopDone: make(chan struct{}),
		life:     life, cancelLife: cancel,
	}
	go w.ackLoop()
	return w
}

// Write publishes msg and later calls done with its outcome. It blocks
// while the window is full. A non-nil return means done will not be called.
func (w *msgWriter) Write(ctx context.Context, msg *nats.Msg, done func(error)) error {
	w.mu.RLock()
	if w.closing {
		w.mu.RUnlock()
		return ErrClosed
	}
	w.inflight.Add(1)
	w.mu.RUnlock()
	defer w.inflight.Done()

	b := bridge.Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second}
	for {
		fut, err := w.js.PublishMsgAsync(msg, jetstream.WithStallWait(w.stallWait))
		if err == nil {
			// The channel is as large as the window, so this rarely waits;
			// the ack loop drains it until Close.
			w.pending <- pendingPub{fut: fut, msg: msg, done: done}
			return nil
		}
		w.log.Debug("async publish refused, retrying", "subject", msg.Subject, "err", err)
		if !bridge.Sleep(ctx, b.Next()) {
			return fmt.Errorf("publish to %s: %w (gave up: %w)", msg.Subject, err, ctx.Err())
		}
	}
}

func (w *msgWriter) ackLoop() {
	defer close(w.loopDone)
	for p := range w.pending {
		select {
		case <-p.fut.Ok():
			p.done(nil)
		case err := <-p.fut.Err():
			p.done(w.republish(p.msg, err))
		}
	}
}

// republish retries a message whose async publish failed, synchronously and
// with the same Nats-Msg-Id so a copy that did reach the stream is
// recognised as a duplicate. It holds up the ack loop, and with it the
// window: intake pauses while JetStream refuses writes.
func (w *msgWriter) republish(orig *nats.Msg, first error) error {
	msg := &nats.Msg{Subject: orig.Subject, Header: orig.Header, Data: orig.Data}
	b := bridge.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}
	err := first
	for attempt := 1; ; attempt++ {
		w.log.Warn("JetStream did not store message, retrying", "subject", msg.Subject,
			"id", msg.Header.Get(bridge.HeaderMsgID), "attempt", attempt, "err", err)
		// The first retry goes at once: after a failover the whole window
		// fails together, and a pause before each message would stall
		// intake for window × pause although the cluster is back.
		if attempt > 1 && !bridge.Sleep(w.life, b.Next()) {
			return fmt.Errorf("store %s: %w", msg.Subject, err)
		}
		ctx, cancel := context.WithTimeout(w.life, 10*time.Second)
		_, err = w.js.PublishMsg(ctx, msg)
		cancel()
		if err == nil {
			return nil
		}
	}
}

// Close stops accepting writes and waits until every accepted write has
// its outcome reported. When ctx ends first, pending retries give up and
// report an error, so their sources redeliver.
func (w *msgWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		<-w.loopDone
		return nil
	}
	w.closing = true
	w.mu.Unlock()

	stop := context.AfterFunc(ctx, w.cancelLife)
	defer stop()
	w.inflight.Wait()
	close(w.pending)
	<-w.loopDone
	w.cancelLife()
	return ctx.Err()
}
