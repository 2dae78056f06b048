package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// benchPublisher is the partners' side of the bench, in the child
// process: it publishes events into the partners' stream.
type benchPublisher struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
}

func newBenchPublisher(ctx context.Context, url string) (*benchPublisher, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, fmt.Errorf("partner publisher: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("partner publisher: %w", err)
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: benchStream, Subjects: []string{"bench.>"}, Storage: jetstream.MemoryStorage,
		Retention: jetstream.WorkQueuePolicy,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("partner stream: %w", err)
	}
	return &benchPublisher{nc: nc, js: js, stream: st}, nil
}

func (p *benchPublisher) close() { p.nc.Close() }

// partnerPublisher is the partners' side on one kind of transport.
type partnerPublisher interface {
	publish(ctx context.Context, partners, n int, rate float64, tag string, payloads [][]byte) error
	close()
}

// publishCommand reads the publish command's arguments.
func publishCommand(ctx context.Context, p partnerPublisher, args []string) error {
	partners, err1 := strconv.Atoi(args[0])
	n, err2 := strconv.Atoi(args[1])
	rate, err3 := strconv.ParseFloat(args[2], 64)
	size, err4 := strconv.Atoi(args[4])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || partners < 1 || n < 0 || size < 1 {
		return fmt.Errorf("publish %v: want partners, events, rate, tag, size", args)
	}
	return p.publish(ctx, partners, n, rate, args[3], benchPayloads(size))
}

// eachPartner runs f for every partner at once, each in its own
// goroutine, and returns one of their errors once all are done.
func eachPartner(partners int, f func(part int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, partners)
	for part := range partners {
		wg.Go(func() {
			if err := f(part); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// aheadLimit bounds what the partners' stream holds that the bridge has
// not taken yet, so a backlog run keeps its events in the bridge's store
// rather than in the partners' memory.
const aheadLimit = 20000

// publish sends n events per partner, each partner on its own subject
// from its own goroutine, paced to rate overall when rate > 0, and
// returns once the server has stored every one.
func (p *benchPublisher) publish(ctx context.Context, partners, n int, rate float64, tag string, payloads [][]byte) error {
	err := eachPartner(partners, func(part int) error {
		return p.publishPartner(ctx, part, partners, n, rate, tag, payloads)
	})
	if err != nil {
		return err
	}
	select {
	case <-p.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *benchPublisher) publishPartner(ctx context.Context, part, partners, n int, rate float64, tag string, payloads [][]byte) error {
	subject := "bench.p" + strconv.Itoa(part) + ".order.created"
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(partners) / rate)
	}
	next := time.Now()
	for i := range n {
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
		if i%256 == 255 {
			if err := p.waitBelowAhead(ctx); err != nil {
				return err
			}
		}
		m := nats.NewMsg(subject)
		m.Header.Set(nats.MsgIdHdr, tag+"-"+strconv.Itoa(part)+"-"+strconv.Itoa(i))
		m.Data = payloads[i%len(payloads)]
		for {
			_, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(5*time.Second))
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// waitBelowAhead waits while the partners' stream holds more than
// aheadLimit events.
func (p *benchPublisher) waitBelowAhead(ctx context.Context) error {
	for {
		info, err := p.stream.Info(ctx)
		if err != nil {
			return fmt.Errorf("partner stream info: %w", err)
		}
		if info.State.Msgs <= aheadLimit {
			return nil
		}
		select {
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
