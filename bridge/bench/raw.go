package bench

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// rawFigures are the raw rates (messages/s) of the four JetStream
// operations every event costs, each measured alone.
type rawFigures struct {
	partnerConsume float64 // durable pull consume, one ack each, from a partner-like stream
	batched        float64 // atomic batches of 1000 into a file stream (fsync's store)
	async          float64 // asynchronous single publishes into a file stream under the mode (relaxed's store)
	ingestConsume  float64 // durable pull consume, one ack each, from the ingest-like file stream
	// erpPublish is asynchronous publishing into a file stream on a
	// server of the ERP's own, with JetStream's default sync: the ERP's
	// durability is the ERP's, not the bridge's mode.
	erpPublish float64
}

// rawJetStream measures the four operations with ~size-byte messages on an
// embedded server with the mode's sync setting. The partner-like stream is
// a work queue in memory, as the bench's partners' stream is; the
// ingest-like stream is a file stream, as the bridge's store is.
func rawJetStream(ctx context.Context, dir, mode string, o Options) (rawFigures, error) {
	var f rawFigures
	listen, err := freeAddr()
	if err != nil {
		return f, err
	}
	emb, err := store.StartEmbedded(config.JetStream{Listen: listen, StoreDir: dir, Durability: mode}, slog.New(slog.DiscardHandler))
	if err != nil {
		return f, err
	}
	defer emb.Shutdown()
	nc, err := nats.Connect(emb.URL())
	if err != nil {
		return f, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		return f, err
	}
	for _, sc := range []jetstream.StreamConfig{
		{Name: "RAWB", Subjects: []string{"rawb.>"}, Storage: jetstream.FileStorage, AllowAtomicPublish: true},
		{Name: "RAWA", Subjects: []string{"rawa.>"}, Storage: jetstream.FileStorage},
		{Name: "RAWP", Subjects: []string{"rawp.>"}, Storage: jetstream.MemoryStorage, Retention: jetstream.WorkQueuePolicy},
	} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return f, err
		}
	}
	data := benchPayloads(o.Size)[0]
	if f.batched, err = rawBatched(nc, data, o.Partners*o.Events); err != nil {
		return f, err
	}
	na := min(o.RawAsync, o.Partners*o.Events)
	start := time.Now()
	if err := rawAsyncPublish(js, "rawa.x", data, na); err != nil {
		return f, err
	}
	f.async = float64(na) / time.Since(start).Seconds()
	// The partner's stream is filled untimed: its publishing is the
	// partner's work, not the bridge's.
	if err := rawAsyncPublish(js, "rawp.x", data, na); err != nil {
		return f, err
	}
	if f.partnerConsume, err = rawConsume(ctx, js, "RAWP", na); err != nil {
		return f, fmt.Errorf("partner-like consume: %w", err)
	}
	if f.ingestConsume, err = rawConsume(ctx, js, "RAWA", na); err != nil {
		return f, fmt.Errorf("ingest-like consume: %w", err)
	}
	f.erpPublish = f.async
	if mode != config.DurabilityRelaxed {
		if f.erpPublish, err = rawERPPublish(ctx, dir+"-erp", data, na); err != nil {
			return f, fmt.Errorf("ERP-like publish: %w", err)
		}
	}
	return f, nil
}

// rawERPPublish measures asynchronous publishing of n messages into a
// file stream on a server with JetStream's default sync.
func rawERPPublish(ctx context.Context, dir string, data []byte, n int) (float64, error) {
	listen, err := freeAddr()
	if err != nil {
		return 0, err
	}
	emb, err := store.StartEmbedded(config.JetStream{Listen: listen, StoreDir: dir, Durability: config.DurabilityRelaxed}, slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	defer emb.Shutdown()
	nc, err := nats.Connect(emb.URL())
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		return 0, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "RAWE", Subjects: []string{"rawe.>"}, Storage: jetstream.FileStorage}); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := rawAsyncPublish(js, "rawe.x", data, n); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// rawBatched publishes total messages in atomic batches of
// config.ServerMaxBatch, one batch at a time, and returns messages/s.
func rawBatched(nc *nats.Conn, data []byte, total int) (float64, error) {
	start := time.Now()
	for sent := 0; sent < total; {
		n := min(config.ServerMaxBatch, total-sent)
		id := nats.NewInbox()[7:]
		for i := range n {
			m := nats.NewMsg("rawb.x")
			m.Data = data
			m.Header.Set(store.HeaderBatchID, id)
			m.Header.Set(store.HeaderBatchSeq, strconv.Itoa(i+1))
			if i == n-1 {
				m.Header.Set(store.HeaderBatchCommit, "1")
				resp, err := nc.RequestMsg(m, 30*time.Second)
				if err != nil {
					return 0, fmt.Errorf("raw batch commit: %w", err)
				}
				if !strings.Contains(string(resp.Data), `"batch"`) {
					return 0, fmt.Errorf("raw batch commit refused: %s", resp.Data)
				}
			} else if err := nc.PublishMsg(m); err != nil {
				return 0, err
			}
		}
		sent += n
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// rawAsyncPublish publishes n messages asynchronously and waits for every
// acknowledgement.
func rawAsyncPublish(js jetstream.JetStream, subject string, data []byte, n int) error {
	for range n {
		m := nats.NewMsg(subject)
		m.Data = data
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(10*time.Second)); err != nil {
			return fmt.Errorf("raw async publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("raw async publishes not acknowledged")
	}
}

// rawConsume drains n messages from stream through a durable pull
// consumer, acknowledging each one, and returns messages/s counted until
// the server has taken every acknowledgement.
func rawConsume(ctx context.Context, js jetstream.JetStream, stream string, n int) (float64, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: "raw-consume", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 8192,
	})
	if err != nil {
		return 0, err
	}
	var got atomic.Int64
	all := make(chan struct{})
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		if got.Add(1) == int64(n) {
			close(all)
		}
	})
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("consumed %d of %d", got.Load(), n)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, err
		}
		if info.NumAckPending == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
