package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Summary counts the outcomes of a replay, reseal or purge.
type Summary struct {
	Selected      int `json:"selected"`
	Replayed      int `json:"replayed,omitempty"`
	Resealed      int `json:"resealed,omitempty"`
	Purged        int `json:"purged,omitempty"`
	StillRejected int `json:"still_rejected,omitempty"`
	Failed        int `json:"failed,omitempty"`
	WouldReplay   int `json:"would_replay,omitempty"`
	WouldReject   int `json:"would_reject,omitempty"`
	WouldPurge    int `json:"would_purge,omitempty"`
	WouldReseal   int `json:"would_reseal,omitempty"`
	// Current: already sealed under the current key (reseal skips them).
	Current int `json:"current,omitempty"`
	// Gone: selected, but removed by someone else before its turn.
	Gone int `json:"gone,omitempty"`
}

// Add counts one outcome.
func (s *Summary) Add(o Outcome) {
	s.Selected++
	switch o {
	case Replayed:
		s.Replayed++
	case Resealed:
		s.Resealed++
	case Purged:
		s.Purged++
	case StillRejected:
		s.StillRejected++
	case Failed:
		s.Failed++
	case WouldReplay:
		s.WouldReplay++
	case WouldReject:
		s.WouldReject++
	case WouldPurge:
		s.WouldPurge++
	case WouldReseal:
		s.WouldReseal++
	case Current:
		s.Current++
	}
}

// Left is how many selected entries stay in the dead-letter stream
// because they were rejected again or failed.
func (s Summary) Left() int { return s.StillRejected + s.Failed }

// Progress is reported while an Engine runs.
type Progress struct {
	// Done entries of Total visited (Total counts the entries of the
	// selected partners present at the start, before the other filters).
	Done, Total int
	// Rate is entries handled per second so far; ETA the time left at it.
	Rate    float64
	ETA     time.Duration
	Summary Summary
}

// Engine applies one action to every selected entry, streaming: entries
// are read in batches and decided as they come; their messages (events
// into the ingest stream, resealed entries) and audit records go through
// a group-committing writer, so one fsync covers a batch; and an entry is
// removed only after its message and its record are both acknowledged,
// by one purge for a run at the head of the stream and by pipelined
// deletes after the first entry that stays. Memory stays bounded by the
// window whatever the stream's size. A run killed at any point leaves
// every entry not yet acknowledged; the re-run republishes it under the
// same message id (deduplicated) and records it under the same key.
type Engine struct {
	Store *Store
	// Action names the decision in the audit trail: replay, reseal, purge.
	Action string
	// Decide returns the message to store for an entry (nil: nothing is
	// stored) and the outcome. An error stops the run.
	Decide func(ctx context.Context, e *Entry) (*nats.Msg, Result, error)
	// Delete says which outcomes remove the entry once recorded.
	Delete func(Outcome) bool
	// Recorder, when set and not DryRun, records each decision; an
	// unrecorded entry is never deleted.
	Recorder Recorder
	DryRun   bool
	// Limiter bounds entries per second; nil is unlimited.
	Limiter *rate.Limiter
	// JetStream tunes the writer (durability, batch); zero values get the
	// bridge's defaults: group commit on.
	JetStream config.JetStream
	// Window bounds entries in flight; default 4096.
	Window int
	// Deleters is how many delete requests are in flight; default 32.
	Deleters int
	// Report, when set, gets every result in stream order, from one
	// goroutine.
	Report func(Result)
	// Progress, when set, is called every ProgressEvery and at the end.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// purgeEvery is how many head entries one purge removes at most.
	purgeEvery int
}

// purgeInterval bounds how long recorded head entries wait for their
// purge.
const purgeInterval = 250 * time.Millisecond

type step struct {
	e   *Entry
	res Result
	// pub and rec receive the outcome of the message's and the record's
	// writes (nil: nothing written).
	pub, rec chan error
}

func wait(ctx context.Context, ch chan error) error {
	if ch == nil {
		return nil
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Run applies the engine's action to the entries matching f.
func (g Engine) Run(ctx context.Context, f Filter) (Summary, error) {
	if g.Window <= 0 {
		g.Window = 4096
	}
	if g.Deleters <= 0 {
		g.Deleters = 32
	}
	if g.purgeEvery <= 0 {
		g.purgeEvery = 4096
	}
	if g.Delete == nil {
		g.Delete = func(o Outcome) bool { return o == Replayed || o == Purged || o == Resealed }
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu    sync.Mutex
		sum   Summary
		total int
		done  int
	)
	start := time.Now()
	snapshot := func() Progress {
		mu.Lock()
		defer mu.Unlock()
		p := Progress{Done: done, Total: total, Summary: sum}
		if el := time.Since(start).Seconds(); el > 0 {
			p.Rate = float64(done) / el
		}
		if p.Rate > 0 && total > done {
			p.ETA = time.Duration(float64(total-done) / p.Rate * float64(time.Second))
		}
		return p
	}
	topo := g.Store.Topology()
	jsc := g.JetStream.WithDefaults()
	if jsc.MaxPending < g.Window {
		jsc.MaxPending = g.Window
	}
	auditRoot := audit.Subject(topo, "")
	w := store.NewWriter(g.Store.JetStream(), jsc, func(subject string) string {
		if strings.HasPrefix(subject, auditRoot) {
			return auditRoot
		}
		return topo.StreamOf(subject)
	}, slog.New(slog.DiscardHandler))
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer ccancel()
		_ = w.Close(cctx)
	}()
	write := func(msg *nats.Msg) chan error {
		ch := make(chan error, 1)
		if err := w.Write(ctx, msg, func(err error) { ch <- err }); err != nil {
			ch <- err
		}
		return ch
	}
	asyncRec, _ := g.Recorder.(asyncRecorder)
	record := g.Recorder != nil && !g.DryRun

	// Entries before breakAt (0: none yet) are all selected; the first one
	// that is not (another reason, time) must survive a head purge.
	var breakAt atomic.Uint64
	headPurge := len(f.Partners) <= 1
	purgeSubject := ""
	if len(f.Partners) == 1 {
		purgeSubject = topo.DeadLetterSubject(f.Partners[0])
	}

	published := make(chan *step, g.Window)
	recorded := make(chan *step, g.Window)
	deletes := make(chan uint64, g.Deleters*4)
	var wg sync.WaitGroup

	// Stage 2: wait for each message, then record the decision.
	wg.Go(func() {
		defer close(recorded)
		for s := range published {
			if err := wait(ctx, s.pub); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.res.Outcome, s.res.Detail = Failed, fmt.Sprintf("publish: %v", err)
			}
			if record {
				if asyncRec != nil {
					msg, err := asyncRec.RecordMsg(g.Action, s.e, s.res)
					if err != nil {
						cancel(fmt.Errorf("audit %s of entry %d: %w", g.Action, s.e.Seq, err))
						return
					}
					s.rec = write(msg)
				} else if err := g.Recorder.Record(ctx, g.Action, s.e, s.res); err != nil {
					cancel(fmt.Errorf("audit %s of entry %d: %w", g.Action, s.e.Seq, err))
					return
				}
			}
			select {
			case recorded <- s:
			case <-ctx.Done():
				return
			}
		}
	})
	// Stage 3: once recorded, count, report and remove.
	wg.Go(func() {
		defer close(deletes)
		var upTo uint64 // every entry below is recorded and may go
		pending := 0
		lastPurge := time.Now()
		purge := func() bool {
			if pending == 0 {
				return true
			}
			if err := g.Store.purgeBelow(ctx, upTo, purgeSubject); err != nil {
				cancel(err)
				return false
			}
			pending, lastPurge = 0, time.Now()
			return true
		}
		defer func() {
			if ctx.Err() == nil {
				purge()
			}
		}()
		for s := range recorded {
			if err := wait(ctx, s.rec); err != nil {
				cancel(fmt.Errorf("audit %s of entry %d: %w", g.Action, s.e.Seq, err))
				return
			}
			remove := !g.DryRun && g.Delete(s.res.Outcome)
			seq := s.e.Seq
			if headPurge {
				if b := breakAt.Load(); remove && (b == 0 || seq < b) {
					upTo, pending = seq+1, pending+1
					// By count, and by time so that a slow (rate-limited)
					// run shows its progress in the stream and a killed
					// one leaves little to redo.
					if (pending >= g.purgeEvery || time.Since(lastPurge) >= purgeInterval) && !purge() {
						return
					}
					remove = false
				} else {
					// This entry, or one before it, stays: from here on
					// entries go one by one.
					if !purge() {
						return
					}
					headPurge = false
				}
			}
			if remove {
				select {
				case deletes <- seq:
				case <-ctx.Done():
					return
				}
			}
			mu.Lock()
			sum.Add(s.res.Outcome)
			done++
			mu.Unlock()
			if g.Report != nil {
				g.Report(s.res)
			}
		}
	})
	// Stage 4: single deletes, several in flight.
	var dwg sync.WaitGroup
	for range g.Deleters {
		dwg.Go(func() {
			for seq := range deletes {
				if err := g.Store.Delete(ctx, seq); err != nil {
					cancel(err)
					for range deletes {
					}
					return
				}
			}
		})
	}

	stopTicker := make(chan struct{})
	var tw sync.WaitGroup
	if g.Progress != nil && g.ProgressEvery > 0 {
		tw.Go(func() {
			t := time.NewTicker(g.ProgressEvery)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					g.Progress(snapshot())
				case <-stopTicker:
					return
				}
			}
		})
	}

	// Stage 1 (this goroutine): read, decide, write.
	scanErr := g.Store.scan(ctx, f, scanOpts{
		total: func(n int) {
			mu.Lock()
			total = n
			mu.Unlock()
		},
		skipped: func(seq uint64) { breakAt.CompareAndSwap(0, seq) },
	}, func(e *Entry) error {
		msg, res, err := g.Decide(ctx, e)
		if err != nil {
			return err
		}
		s := &step{e: e, res: res}
		if msg != nil && !g.DryRun {
			if g.Limiter != nil {
				if err := g.Limiter.Wait(ctx); err != nil {
					return err
				}
			}
			s.pub = write(msg)
		}
		// Only metadata waits in the window.
		e.Payload, e.Header = nil, nil
		select {
		case published <- s:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(published)
	wg.Wait()
	dwg.Wait()
	close(stopTicker)
	tw.Wait()
	if g.Progress != nil {
		g.Progress(snapshot())
	}
	final := snapshot().Summary
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return final, cause
	}
	if scanErr != nil {
		return final, scanErr
	}
	return final, context.Cause(ctx)
}
