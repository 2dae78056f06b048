package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Options select what a bench run measures.
type Options struct {
	Partners   int
	Events     int // per partner
	Size       int // approximate event size in bytes
	Modes      []string
	JSON       bool
	Dir        string // stores; empty: a temporary directory, removed afterwards
	HalfFor    time.Duration
	Backlog    int
	RawAsync   int
	CPUProfile string
	MemProfile string
	// PartnerKind is the partners' transport: nats (a JetStream stream,
	// the default) or amqp (quorum queues on the RabbitMQ at AMQPURL).
	PartnerKind string
	AMQPURL     string
	// BrokersCommand starts the child process that runs the partners' and
	// the ERP's sides; empty means this executable with "bench-brokers".
	BrokersCommand []string
}

// Validate names the first option a run cannot use.
func (o Options) Validate() error {
	if len(o.Modes) == 0 {
		return fmt.Errorf("--durability: no mode given")
	}
	for _, m := range o.Modes {
		if m != config.DurabilityFsync && m != config.DurabilityRelaxed {
			return fmt.Errorf("--durability: %q is not fsync or relaxed (replicated needs a cluster)", m)
		}
	}
	if k := o.kind(); k != KindNATS && k != KindAMQP {
		return fmt.Errorf("--partner-kind: %q is not nats or amqp", k)
	}
	if o.Partners < 1 || o.Events < 1 || o.Size < 200 {
		return fmt.Errorf("need --partners ≥ 1, --events ≥ 1, --size ≥ 200")
	}
	return nil
}

// benchResult is one durability mode's figures.
type benchResult struct {
	Durability  string  `json:"durability"`
	GroupCommit bool    `json:"group_commit"`
	PartnerKind string  `json:"partner_kind"`
	Partners    int     `json:"partners"`
	Events      int     `json:"events"`
	EventBytes  int     `json:"event_bytes"`
	Seconds     float64 `json:"seconds"`
	EventsPerS  float64 `json:"events_per_s"`
	MBPerS      float64 `json:"mb_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
	// CPUSeconds and PeakRSSMB are the bridge's process alone; the
	// partners' and the ERP's sides run in a child process, whose CPU
	// time is apart.
	CPUSeconds        float64 `json:"cpu_s"`
	BrokersCPUSeconds float64 `json:"brokers_cpu_s"`
	PeakRSSMB         float64 `json:"peak_rss_mb"`
	CPUMicrosPerEvent float64 `json:"cpu_us_per_event"`
	// Raw JetStream on the same server settings, without the bridge: the
	// four operations every event needs, each alone.
	RawPartnerConsumePerS float64 `json:"raw_partner_consume_per_s"`
	RawBatchedPerS        float64 `json:"raw_batched_per_s"`
	RawAsyncPerS          float64 `json:"raw_async_per_s"`
	RawIngestConsumePerS  float64 `json:"raw_ingest_consume_per_s"`
	RawERPPublishPerS     float64 `json:"raw_erp_publish_per_s"`
	// RawStore names the store leg of this mode: "batched" (fsync, group
	// commit) or "async" (relaxed).
	RawStore string `json:"raw_store"`
	// Limit is L = 1/Σ(1/r_i) over the four legs: what the bridge could
	// reach if each ran at its raw rate one after another; Ratio is the
	// bridge's rate over it.
	Limit float64 `json:"limit_per_s"`
	Ratio float64 `json:"ratio"`
	// The same pipeline paced at half the rate reached above.
	HalfRatePerS float64 `json:"half_rate_per_s,omitempty"`
	HalfP50Ms    float64 `json:"half_p50_ms,omitempty"`
	HalfP99Ms    float64 `json:"half_p99_ms,omitempty"`
	HalfP999Ms   float64 `json:"half_p999_ms,omitempty"`
	// Peak RSS while a backlog of events sits in JetStream (ERP down).
	Backlog         int     `json:"backlog,omitempty"`
	BacklogRSSMB    float64 `json:"backlog_peak_rss_mb,omitempty"`
	BacklogSeconds  float64 `json:"backlog_seconds,omitempty"`
	BatchesCommited int64   `json:"-"`
}

// Run measures each mode of o and prints the figures to stdout; progress
// goes to stderr.
func Run(ctx context.Context, stdout, stderr io.Writer, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	return runBench(ctx, stdout, stderr, o)
}

func runBench(ctx context.Context, stdout, stderr io.Writer, o Options) error {
	base := o.Dir
	if base == "" {
		d, err := os.MkdirTemp("", "dmzbridge-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		base = d
	}
	schemaDir := filepath.Join(base, "schemas")
	if err := writeSchemas(schemaDir); err != nil {
		return err
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	var results []benchResult
	for _, mode := range o.Modes {
		r, err := benchMode(ctx, filepath.Join(base, mode), schemaDir, mode, o, progress)
		if err != nil {
			return fmt.Errorf("bench %s: %w", mode, err)
		}
		results = append(results, r)
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"machine": map[string]any{"cpus": runtime.NumCPU(), "goos": runtime.GOOS, "goarch": runtime.GOARCH, "go": runtime.Version()},
			"results": results,
		})
	}
	printBench(stdout, results)
	return nil
}

func printBench(w io.Writer, rs []benchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "durability\tpartners\tevents\tevents/s\tL ev/s\tratio\tCPU µs/ev\tp50 ms\tp99 ms\thalf-rate ev/s\tp50 ms @half\tp99 ms @half\tpeak RSS MB\tbrokers CPU s\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%.2f\t%.0f\t%.1f\t%.1f\t%.0f\t%.1f\t%.1f\t%.0f\t%.1f\t\n",
			r.Durability, r.Partners, r.Events, r.EventsPerS, r.Limit, r.Ratio, r.CPUMicrosPerEvent, r.P50Ms, r.P99Ms,
			r.HalfRatePerS, r.HalfP50Ms, r.HalfP99Ms, r.PeakRSSMB, r.BrokersCPUSeconds)
	}
	tw.Flush()
	for _, r := range rs {
		fmt.Fprintf(w, "%s: raw JetStream ev/s: partner consume %.0f, ingest store %.0f (%s), ingest consume %.0f, ERP publish %.0f; group commit %v",
			r.Durability, r.RawPartnerConsumePerS, r.storeRate(), r.RawStore, r.RawIngestConsumePerS, r.RawERPPublishPerS, r.GroupCommit)
		if r.Backlog > 0 {
			fmt.Fprintf(w, "; backlog of %d events: peak RSS %.0f MB", r.Backlog, r.BacklogRSSMB)
		}
		fmt.Fprintln(w)
	}
}

// storeRate is the raw rate of this mode's store leg.
func (r benchResult) storeRate() float64 {
	if r.RawStore == "batched" {
		return r.RawBatchedPerS
	}
	return r.RawAsyncPerS
}

// limit composes the four legs: partner consume, ingest store, ingest
// consume, ERP publish.
func (r benchResult) limit() float64 {
	return composedLimit(r.RawPartnerConsumePerS, r.storeRate(), r.RawIngestConsumePerS, r.RawERPPublishPerS)
}

// composedLimit is 1/Σ(1/r_i); zero when any rate is unknown.
func composedLimit(rates ...float64) float64 {
	var sum float64
	for _, r := range rates {
		if r <= 0 {
			return 0
		}
		sum += 1 / r
	}
	return 1 / sum
}

func benchMode(ctx context.Context, dir, schemaDir, mode string, o Options, progress func(string, ...any)) (benchResult, error) {
	r := benchResult{Durability: mode, PartnerKind: o.kind(), Partners: o.Partners, Events: o.Partners * o.Events, EventBytes: o.Size}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return r, err
	}
	progress("[%s] raw JetStream publish", mode)
	raw, err := rawJetStream(ctx, filepath.Join(dir, "raw"), mode, o)
	if err != nil {
		return r, fmt.Errorf("raw: %w", err)
	}
	r.RawPartnerConsumePerS, r.RawBatchedPerS, r.RawAsyncPerS, r.RawIngestConsumePerS, r.RawERPPublishPerS = raw.partnerConsume, raw.batched, raw.async, raw.ingestConsume, raw.erpPublish
	if o.kind() == KindAMQP {
		// The partner leg is the partner's own transport.
		progress("[%s] raw AMQP consume", mode)
		if r.RawPartnerConsumePerS, err = rawAMQPConsume(ctx, o, benchPayloads(o.Size)[0]); err != nil {
			return r, fmt.Errorf("raw AMQP: %w", err)
		}
	}
	r.RawStore = "async"
	if mode != config.DurabilityRelaxed {
		r.RawStore = "batched"
	}
	r.Limit = r.limit()
	runtime.GC()
	resetPeakRSS()

	brokers, err := startBenchBrokers(ctx, o.BrokersCommand, filepath.Join(dir, "partner"), o)
	if err != nil {
		return r, err
	}
	defer brokers.close()

	cfg, err := benchConfig(filepath.Join(dir, "js"), schemaDir, mode, o, brokers.Partner, brokers.ERP)
	if err != nil {
		return r, err
	}
	obs := new(benchObserver)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// Warnings go to stderr: a bench that falls back or retries says so.
	logger := slog.New(slog.NewTextHandler(stderrOf(progress), &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := app.Start(runCtx, cfg, app.Options{Logger: logger, Observers: []bridge.Observer{obs}})
	if err != nil {
		return r, err
	}
	r.GroupCommit = b.GroupCommit()
	runDone := make(chan error, 1)
	go func() { runDone <- b.Run(runCtx) }()
	defer func() {
		stop()
		<-runDone
		b.Close()
	}()

	r.EventBytes = len(benchPayloads(o.Size)[0])
	progress("[%s] full pipeline: %d partners × %d events of %d bytes", mode, o.Partners, o.Events, r.EventBytes)
	stopProfile, err := startCPUProfile(profilePath(o.CPUProfile, mode, len(o.Modes)))
	if err != nil {
		return r, err
	}
	defer stopProfile()
	cpu0 := cpuTime()
	brokersCPU0, err := brokers.cpu()
	if err != nil {
		return r, err
	}
	start := time.Now()
	pub := inBackground(func() error { return brokers.publish(o.Partners, o.Events, 0, "m", o.Size) })
	total := int64(o.Partners * o.Events)
	if err := waitCount(ctx, &obs.forwarded, total, 10*time.Minute, pub); err != nil {
		return r, err
	}
	el := time.Since(start)
	r.CPUSeconds = (cpuTime() - cpu0).Seconds()
	brokersCPU, err := brokers.cpu()
	if err != nil {
		return r, err
	}
	r.BrokersCPUSeconds = (brokersCPU - brokersCPU0).Seconds()
	r.Seconds = el.Seconds()
	r.EventsPerS = float64(total) / el.Seconds()
	r.MBPerS = r.EventsPerS * float64(r.EventBytes) / 1e6
	r.P50Ms, r.P99Ms, r.P999Ms = obs.percentiles()
	r.PeakRSSMB = peakRSSMB()
	r.CPUMicrosPerEvent = r.CPUSeconds * 1e6 / float64(total)
	if r.Limit > 0 {
		r.Ratio = r.EventsPerS / r.Limit
	}
	progress("[%s] %.0f events/s (L %.0f, ratio %.2f), %.0f CPU µs/event, p99 %.1f ms", mode, r.EventsPerS, r.Limit, r.Ratio, r.CPUMicrosPerEvent, r.P99Ms)

	if o.HalfFor > 0 {
		rate := r.EventsPerS / 2
		n := int(rate * o.HalfFor.Seconds() / float64(o.Partners))
		progress("[%s] half rate: %.0f events/s for %v", mode, rate, o.HalfFor)
		obs.reset()
		before := obs.forwarded.Load()
		hs := time.Now()
		pub := inBackground(func() error { return brokers.publish(o.Partners, n, rate, "h", o.Size) })
		if err := waitCount(ctx, &obs.forwarded, before+int64(n*o.Partners), 5*time.Minute, pub); err != nil {
			return r, err
		}
		r.HalfRatePerS = float64(n*o.Partners) / time.Since(hs).Seconds()
		r.HalfP50Ms, r.HalfP99Ms, r.HalfP999Ms = obs.percentiles()
	}
	if o.Backlog > 0 {
		if err := benchBacklog(ctx, &r, o, brokers, obs, progress); err != nil {
			return r, err
		}
	} else if err := writeHeapProfile(o.MemProfile); err != nil {
		return r, err
	}
	if err := waitERP(brokers, total); err != nil {
		return r, err
	}
	return r, nil
}

// benchBacklog stops the ERP, lets a backlog build up in JetStream and
// records peak RSS meanwhile.
func benchBacklog(ctx context.Context, r *benchResult, o Options, brokers *benchBrokers, obs *benchObserver, progress func(string, ...any)) error {
	progress("[%s] backlog: %d events with the ERP down", r.Durability, o.Backlog)
	if err := brokers.stopERP(); err != nil {
		return err
	}
	runtime.GC()
	resetPeakRSS()
	stored0 := obs.stored.Load()
	start := time.Now()
	per := o.Backlog / o.Partners
	pub := inBackground(func() error { return brokers.publish(o.Partners, per, 0, "b", o.Size) })
	if err := waitCount(ctx, &obs.stored, stored0+int64(per*o.Partners), 30*time.Minute, pub); err != nil {
		return err
	}
	r.Backlog = per * o.Partners
	r.BacklogSeconds = time.Since(start).Seconds()
	r.BacklogRSSMB = peakRSSMB()
	return writeHeapProfile(o.MemProfile)
}

func stderrOf(func(string, ...any)) io.Writer { return os.Stderr }

// waitERP checks that the ERP's subscriber saw every event; it may run a
// moment behind the sink's confirmations.
func waitERP(brokers *benchBrokers, total int64) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := brokers.erpCount()
		if err != nil {
			return err
		}
		if n >= total {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ERP subscriber saw %d of %d events", n, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// asyncResult is the outcome of work running in a goroutine of its own.
type asyncResult struct {
	done chan struct{}
	err  error
}

func inBackground(f func() error) *asyncResult {
	r := &asyncResult{done: make(chan struct{})}
	go func() { defer close(r.done); r.err = f() }()
	return r
}

// waitCount waits until c reaches want, then for pub to finish: the
// child answers one command at a time, so nothing else may be asked while
// a publish is pending. A failed publish ends the wait at once.
func waitCount(ctx context.Context, c *atomic.Int64, want int64, limit time.Duration, pub *asyncResult) error {
	deadline := time.Now().Add(limit)
	done := pub.done
	for c.Load() < want {
		select {
		case <-done:
			if pub.err != nil {
				return pub.err
			}
			done = nil // finished: only the count is left to wait for
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d events after %v", c.Load(), want, limit)
		}
	}
	select {
	case <-pub.done:
		return pub.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// benchObserver counts events and records intake-to-ERP latencies.
type benchObserver struct {
	stored, forwarded atomic.Int64
	lat               latencyHistogram
}

func (o *benchObserver) Received(*bridge.Envelope)                        {}
func (o *benchObserver) Stored(*bridge.Envelope)                          { o.stored.Add(1) }
func (o *benchObserver) DeadLettered(*bridge.Envelope, *bridge.Rejection) {}
func (o *benchObserver) ForwardFailed(*bridge.Envelope, error)            {}
func (o *benchObserver) Forwarded(_ *bridge.Envelope, d time.Duration) {
	o.lat.record(d)
	o.forwarded.Add(1)
}

func (o *benchObserver) reset() { o.lat.reset() }

func (o *benchObserver) percentiles() (p50, p99, p999 float64) {
	q := o.lat.quantiles(0.50, 0.99, 0.999)
	return q[0], q[1], q[2]
}
