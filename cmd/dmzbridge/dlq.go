package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/dlq"
	"github.com/dmzbridge/dmzbridge/bridge/store"
	"github.com/dmzbridge/dmzbridge/cmd/dmzbridge/app"
)

// Exit codes of the dlq commands beyond those in main.go.
const (
	// exitNotFound: the entry named by ID (or --id) does not exist.
	exitNotFound = 4
	// exitPartial: the command ran, but some selected entries were left in
	// the dead-letter stream (still rejected or a transient failure).
	exitPartial = 5
)

// codedError carries an exit code of its own (see exitCode).
type codedError struct {
	code int
	err  error
}

func (e codedError) Error() string { return e.err.Error() }
func (e codedError) Unwrap() error { return e.err }
func (e codedError) ExitCode() int { return e.code }

// dlqDeps are what the dlq commands take from outside; tests replace them.
type dlqDeps struct {
	now    func() time.Time
	stages func(*config.Config) ([]bridge.Stage, error)
	// recorder builds the audit recorder for replay and purge.
	recorder func(ctx context.Context, js jetstream.JetStream, topo bridge.Topology, cfg *config.Config, operator string, now func() time.Time) (dlq.Recorder, error)
	// policy builds the display masking policy from the config.
	policy func(*config.Config) (func(partner, eventType string, doc any) any, error)
	stderr io.Writer
}

func defaultDlqDeps() dlqDeps {
	return dlqDeps{now: time.Now, stages: app.Stages, recorder: auditRecorder, policy: policyMasker, stderr: os.Stderr}
}

// dlqConn are the connection flags every dlq command shares.
type dlqConn struct {
	config   string
	server   string
	creds    string
	user     string
	password string
	prefix   string
	timeout  time.Duration
}

// session is an open connection to the dead-letter stream.
type session struct {
	cfg      *config.Config
	nc       *nats.Conn
	store    *dlq.Store
	embedded *store.Embedded
}

func (s *session) Close() {
	if s.nc != nil {
		s.nc.Close()
	}
	if s.embedded != nil {
		s.embedded.Shutdown()
	}
}

func newDlqCmd(deps dlqDeps) *cobra.Command {
	var conn dlqConn
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect, replay and purge dead-lettered events",
		Long: `Inspect, replay and purge the bridge's dead-letter stream.

The commands talk to JetStream directly, so they work while the bridge is
down. With --config they read the JetStream address, credentials and stream
prefix from the bridge's configuration; when that configuration uses the
embedded server and no bridge is running, they open its store themselves
(holding its listen address, so a bridge cannot start on the same store
meanwhile). Flags override the configuration.

Entries are named by their sequence number in the dead-letter stream (the
SEQ column); show and --id also accept an event id.

Exit codes: 0 success, 1 runtime failure (e.g. JetStream unreachable),
2 usage error, 3 invalid configuration, 4 entry not found, 5 some selected
entries were left in the dead-letter stream (still rejected or failed), or
with --dry-run would be.`,
		Example: `  dmzbridge dlq list --config /etc/dmzbridge/bridge.yaml --partner bank-a --since 24h
  dmzbridge dlq show 42 --config /etc/dmzbridge/bridge.yaml
  dmzbridge dlq stats --server nats://127.0.0.1:14222 --json
  dmzbridge dlq replay --config bridge.yaml --reason schema_invalid --dry-run
  dmzbridge dlq replay --config bridge.yaml --reason schema_invalid --rate 50
  dmzbridge dlq purge --config bridge.yaml --partner dealer-c --until 2026-11-01T00:00:00Z --yes`,
	}
	addConnFlags(cmd.PersistentFlags(), &conn)
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error { return checkFilterFlags(c, &conn) }
	cmd.AddCommand(
		newDlqListCmd(&conn, deps),
		newDlqShowCmd(&conn, deps),
		newDlqStatsCmd(&conn, deps),
		newDlqReplayCmd(&conn, deps),
		newDlqPurgeCmd(&conn, deps),
	)
	return cmd
}

// open connects to JetStream as the flags and config say.
func (c *dlqConn) open(ctx context.Context, deps dlqDeps) (*session, error) {
	s := &session{}
	var js config.JetStream
	prefix := "DMZ"
	if c.config != "" {
		cfg, err := config.Load(c.config)
		if err != nil {
			return nil, err
		}
		s.cfg = cfg
		js = cfg.JetStream
		prefix = js.StreamPrefix
	}
	server := c.server
	switch {
	case server != "":
	case s.cfg != nil && js.Embedded:
		server = "nats://" + js.Listen
	case s.cfg != nil:
		server = js.URL
	case os.Getenv("NATS_URL") != "":
		server = os.Getenv("NATS_URL")
	default:
		server = "nats://127.0.0.1:14222"
	}
	if c.prefix != "" {
		prefix = c.prefix
	}
	if c.creds != "" {
		js.Credentials, js.User, js.Password = c.creds, "", ""
	}
	if c.user != "" {
		js.Credentials, js.User, js.Password = "", c.user, c.password
		if js.Password == "" {
			js.Password = os.Getenv("NATS_PASSWORD")
		}
	}
	nc, err := c.dial(server, js)
	if err != nil && s.cfg != nil && js.Embedded && c.server == "" && errors.Is(err, nats.ErrNoServers) {
		// No bridge is running on this embedded store: open it ourselves
		// on the bridge's own address, so a bridge started meanwhile fails
		// to bind instead of sharing the store with us.
		emb, eerr := store.StartEmbedded(js, slog.New(slog.DiscardHandler))
		if eerr != nil {
			return nil, fmt.Errorf("JetStream at %s is not reachable (%v) and its embedded store cannot be opened: %w", store.Redact(server), err, eerr)
		}
		s.embedded = emb
		fmt.Fprintf(deps.stderr, "dmzbridge: no bridge is running; opened the embedded JetStream store %s directly\n", js.StoreDir)
		nc, err = c.dial(emb.URL(), js)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to JetStream at %s: %w", store.Redact(server), err)
	}
	s.nc = nc
	jsc, err := jetstream.New(nc, jetstream.WithDefaultTimeout(c.timeout))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	s.store = dlq.NewStore(jsc, bridge.NewTopology(prefix))
	return s, nil
}

func (c *dlqConn) dial(server string, js config.JetStream) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name("dmzbridge dlq"), nats.Timeout(c.timeout), nats.MaxReconnects(2)}
	if js.Credentials != "" {
		opts = append(opts, nats.UserCredentials(js.Credentials))
	}
	if js.User != "" {
		opts = append(opts, nats.UserInfo(js.User, js.Password))
	}
	if js.TLS.Enabled() {
		tc, err := store.ClientTLS(js.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	return nats.Connect(server, opts...)
}

// filterFlags are the selection flags of list, stats, replay and purge.
type filterFlags struct {
	partners, reasons, types, ids []string
	since, until                  string
}

func (f *filterFlags) register(cmd *cobra.Command, withID bool) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.partners, "partner", nil, "only this partner (repeatable or comma-separated)")
	fl.StringSliceVar(&f.reasons, "reason", nil, "only this reason code, e.g. schema_invalid, max_attempts")
	fl.StringSliceVar(&f.types, "type", nil, "only this event type, e.g. order.created")
	fl.StringVar(&f.since, "since", "", "failed at or after: RFC 3339 time or a duration ago (24h)")
	fl.StringVar(&f.until, "until", "", "failed before: RFC 3339 time or a duration ago")
	if withID {
		fl.StringSliceVar(&f.ids, "id", nil, "only this entry: sequence number or event id (repeatable)")
	}
}

func (f *filterFlags) filter(now time.Time) (dlq.Filter, error) {
	out := dlq.Filter{Partners: f.partners, Reasons: f.reasons, Types: f.types, IDs: f.ids}
	var err error
	if out.Since, err = parseDlqWhen(f.since, now); err != nil {
		return out, usageError{fmt.Errorf("--since: %w", err)}
	}
	if out.Until, err = parseDlqWhen(f.until, now); err != nil {
		return out, usageError{fmt.Errorf("--until: %w", err)}
	}
	return out, nil
}

// parseDlqWhen accepts an RFC 3339 time, a date, or a duration meaning that
// long before now.
func parseDlqWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time, a date (2006-01-02) nor a duration (24h)", s)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newDlqListCmd(conn *dlqConn, deps dlqDeps) *cobra.Command {
	var ff filterFlags
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead-lettered events, oldest first",
		Example: `  dmzbridge dlq list --config bridge.yaml
  dmzbridge dlq list --config bridge.yaml --partner bank-a --reason schema_invalid --since 2026-11-20
  dmzbridge dlq list --server nats://nats:4222 --creds ops.creds --json | jq '.[].id'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := ff.filter(deps.now())
			if err != nil {
				return err
			}
			s, err := conn.open(cmd.Context(), deps)
			if err != nil {
				return err
			}
			defer s.Close()
			var entries []*dlq.Entry
			err = s.store.Scan(cmd.Context(), f, func(e *dlq.Entry) error {
				if limit > 0 && len(entries) >= limit {
					return errLimit
				}
				e.Payload = nil // listed without payloads
				entries = append(entries, e)
				return nil
			})
			if err != nil && !errors.Is(err, errLimit) {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if entries == nil {
					entries = []*dlq.Entry{}
				}
				// Error details can quote offending values: masked here
				// as in show; the payload is never listed.
				m := displayMasker{}
				for _, e := range entries {
					e.Error = m.Text(e.Error, false)
					for _, h := range m.Headers(e.Headers, false) {
						e.Headers[h[0]] = h[1]
					}
				}
				return writeJSON(out, entries)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tLAST FAILURE\tPARTNER\tTYPE\tREASON\tATTEMPTS\tID")
			for _, e := range entries {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Seq, fmtTime(e.Time()), orDash(e.Partner), orDash(e.EventType), orDash(e.Reason), e.Attempts, e.ID)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "%d entries\n", len(entries))
			return nil
		},
	}
	ff.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array for scripts")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many entries, oldest first (0: all)")
	return cmd
}

var errLimit = errors.New("limit reached")

// showView is `dlq show --json`.
type showView struct {
	*dlq.Entry
	Masked  bool            `json:"masked"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// PayloadText holds a payload that is not JSON (only with --reveal).
	PayloadText string `json:"payload_text,omitempty"`
}

func newDlqShowCmd(conn *dlqConn, deps dlqDeps) *cobra.Command {
	var reveal, asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead-lettered event with its headers and payload",
		Long: `Show one dead-lettered event: its reason, error detail, partner, source,
attempts, failure times, trace parent, headers and payload.

Sensitive values are masked: the partner's masking policy from --config,
plus fields named like personal or secret data (iban, card, email, phone,
tax id, password, token, ...) and values that look like e-mail addresses,
IBANs or card numbers. --reveal shows the payload as stored; use it only
where the data may be seen.`,
		Example: `  dmzbridge dlq show 42 --config bridge.yaml
  dmzbridge dlq show bank-a-00017 --config bridge.yaml --json
  dmzbridge dlq show 42 --config bridge.yaml --reveal`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := conn.open(cmd.Context(), deps)
			if err != nil {
				return err
			}
			defer s.Close()
			e, err := s.store.Find(cmd.Context(), args[0])
			if errors.Is(err, dlq.ErrNotFound) {
				return codedError{exitNotFound, err}
			}
			if err != nil {
				return err
			}
			m := displayMasker{}
			if s.cfg != nil && deps.policy != nil {
				if m.policy, err = deps.policy(s.cfg); err != nil {
					fmt.Fprintf(deps.stderr, "dmzbridge: masking policy partly unavailable (generic masking still applies): %v\n", err)
				}
			}
			payload, shown := m.Payload(e.Partner, e.EventType, e.Payload, reveal)
			e.Error = m.Text(e.Error, reveal)
			hdrs := m.Headers(e.Headers, reveal)
			for _, h := range hdrs {
				e.Headers[h[0]] = h[1]
			}
			out := cmd.OutOrStdout()
			if asJSON {
				v := showView{Entry: e, Masked: !reveal}
				if shown && json.Valid([]byte(payload)) {
					v.Payload = json.RawMessage(payload)
				} else if shown {
					v.PayloadText = payload
				}
				return writeJSON(out, v)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', 0)
			for _, kv := range [][2]string{
				{"seq", strconv.FormatUint(e.Seq, 10)},
				{"id", e.ID},
				{"partner", orDash(e.Partner)},
				{"source", orDash(e.Source)},
				{"event type", orDash(e.EventType)},
				{"reason", orDash(e.Reason)},
				{"error", orDash(e.Error)},
				{"failed in", e.FailedIn},
				{"attempts", strconv.Itoa(e.Attempts)},
				{"received at", fmtTime(e.ReceivedAt)},
				{"first failure", fmtTime(e.FirstFailure)},
				{"last failure", fmtTime(e.LastFailure)},
				{"traceparent", orDash(e.TraceParent)},
			} {
				fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(hdrs) > 0 {
				fmt.Fprintln(out, "headers:")
				for _, h := range hdrs {
					fmt.Fprintf(out, "  %s: %s\n", h[0], h[1])
				}
			}
			state := "masked"
			if reveal {
				state = "revealed"
			}
			if !shown {
				fmt.Fprintf(out, "payload (%d bytes, not JSON: hidden; --reveal shows it):\n", e.Size)
				return nil
			}
			fmt.Fprintf(out, "payload (%d bytes, %s):\n%s\n", e.Size, state, payload)
			return nil
		},
	}
	cmd.Flags().BoolVar(&reveal, "reveal", false, "show sensitive values unmasked")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}

func newDlqStatsCmd(conn *dlqConn, deps dlqDeps) *cobra.Command {
	var ff filterFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count dead-lettered events by partner and reason",
		Example: `  dmzbridge dlq stats --config bridge.yaml
  dmzbridge dlq stats --config bridge.yaml --since 24h --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := ff.filter(deps.now())
			if err != nil {
				return err
			}
			s, err := conn.open(cmd.Context(), deps)
			if err != nil {
				return err
			}
			defer s.Close()
			var entries []*dlq.Entry
			err = s.store.Scan(cmd.Context(), f, func(e *dlq.Entry) error {
				e.Payload, e.Header = nil, nil // counted, not kept
				entries = append(entries, e)
				return nil
			})
			if err != nil {
				return err
			}
			counts := dlq.Stats(entries)
			out := cmd.OutOrStdout()
			if asJSON {
				if counts == nil {
					counts = []dlq.Count{}
				}
				return writeJSON(out, struct {
					Total  int         `json:"total"`
					Counts []dlq.Count `json:"counts"`
				}{len(entries), counts})
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PARTNER\tREASON\tCOUNT\tBYTES\tOLDEST\tNEWEST")
			bytes := 0
			for _, c := range counts {
				bytes += c.Bytes
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", orDash(c.Partner), orDash(c.Reason), c.Count, c.Bytes, fmtTime(c.Oldest), fmtTime(c.Newest))
			}
			fmt.Fprintf(tw, "TOTAL\t\t%d\t%d\n", len(entries), bytes)
			return tw.Flush()
		},
	}
	ff.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}

// selection resolves --id/filters/--all into a filter, refusing an empty
// selection so that a forgotten flag never touches every entry.
func selection(ff *filterFlags, all bool, now time.Time) (dlq.Filter, error) {
	f, err := ff.filter(now)
	if err != nil {
		return f, err
	}
	if f.Empty() && !all {
		return f, usageError{errors.New("select entries with --id, --partner, --reason, --type, --since, --until, or --all")}
	}
	if !f.Empty() && all {
		return f, usageError{errors.New("--all cannot be combined with --id or filters")}
	}
	return f, nil
}

func operatorName(flag string) string {
	if flag != "" {
		return flag
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

type summary struct {
	Selected      int `json:"selected"`
	Replayed      int `json:"replayed,omitempty"`
	Purged        int `json:"purged,omitempty"`
	StillRejected int `json:"still_rejected,omitempty"`
	Failed        int `json:"failed,omitempty"`
	WouldReplay   int `json:"would_replay,omitempty"`
	WouldReject   int `json:"would_reject,omitempty"`
	WouldPurge    int `json:"would_purge,omitempty"`
	// Gone: selected, but removed by someone else before its turn.
	Gone int `json:"gone,omitempty"`
}

func (s *summary) add(o dlq.Outcome) {
	switch o {
	case dlq.Replayed:
		s.Replayed++
	case dlq.Purged:
		s.Purged++
	case dlq.StillRejected:
		s.StillRejected++
	case dlq.Failed:
		s.Failed++
	case dlq.WouldReplay:
		s.WouldReplay++
	case dlq.WouldReject:
		s.WouldReject++
	case dlq.WouldPurge:
		s.WouldPurge++
	}
}

// progress prints "n/total" to stderr at most once a second.
type progress struct {
	w     io.Writer
	verb  string
	total int
	last  time.Time
}

func (p *progress) update(done int, s summary, force bool) {
	if p.total < 2 || (!force && time.Since(p.last) < time.Second) {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "%s %d/%d (%d left in the dead-letter stream)\n", p.verb, done, p.total, s.StillRejected+s.Failed+s.WouldReject)
}

func newDlqReplayCmd(conn *dlqConn, deps dlqDeps) *cobra.Command {
	var ff filterFlags
	var all, dryRun, asJSON bool
	var perSecond float64
	var operator string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Put dead-lettered events back into the pipeline",
		Long: `Put dead-lettered events back into the pipeline, oldest first.

Events rejected at intake run today's validation and masking again (from
--config), so an event that failed a since-fixed schema now goes through;
one still rejected stays in the dead-letter stream and is reported. Events
dead-lettered by the forwarder (max_attempts) were validated and masked
before they were stored and go back unchanged.

Each event is stored in the ingest stream under a new message id derived
from its dead-letter entry, and the entry is deleted only after JetStream
acknowledged that store. An interrupted replay can be run again: within the
ingest duplicate window (jetstream.duplicate_window) an event stored by the
first run is recognised and not stored twice. Each decision is recorded in
the audit trail with the operator.`,
		Example: `  dmzbridge dlq replay --config bridge.yaml --id 42
  dmzbridge dlq replay --config bridge.yaml --partner bank-a --reason schema_invalid --dry-run
  dmzbridge dlq replay --config bridge.yaml --all --rate 100 --operator alice`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := selection(&ff, all, deps.now())
			if err != nil {
				return err
			}
			if perSecond < 0 {
				return usageError{errors.New("--rate must not be negative")}
			}
			if conn.config == "" {
				return usageError{errors.New("replay needs --config: events run today's validation and masking from the bridge configuration")}
			}
			ctx := cmd.Context()
			s, err := conn.open(ctx, deps)
			if err != nil {
				return err
			}
			defer s.Close()
			stages, err := deps.stages(s.cfg)
			if err != nil {
				return err
			}
			r := &dlq.Replayer{Store: s.store, Stages: stages, DryRun: dryRun, Partners: map[string]bool{}}
			for _, p := range s.cfg.Partners {
				r.Partners[p.Name] = true
			}
			if perSecond > 0 {
				r.Limiter = rate.NewLimiter(rate.Limit(perSecond), 1)
			}
			if !dryRun && deps.recorder != nil {
				if r.Recorder, err = deps.recorder(ctx, s.store.JetStream(), s.store.Topology(), s.cfg, operatorName(operator), deps.now); err != nil {
					return err
				}
			}
			seqs, err := s.store.Seqs(ctx, f)
			if err != nil {
				return err
			}
			if len(seqs) == 0 && len(f.IDs) > 0 {
				return codedError{exitNotFound, fmt.Errorf("%w: %s", dlq.ErrNotFound, strings.Join(f.IDs, ", "))}
			}
			verb := "replayed"
			if dryRun {
				verb = "checked"
			}
			return runBatch(cmd, deps, s.store, seqs, asJSON, verb, func(e *dlq.Entry) (dlq.Result, error) {
				return r.Replay(ctx, e)
			})
		},
	}
	ff.register(cmd, true)
	fl := cmd.Flags()
	fl.BoolVar(&all, "all", false, "replay every entry")
	fl.BoolVar(&dryRun, "dry-run", false, "run the stages and report what would happen; change nothing")
	fl.Float64Var(&perSecond, "rate", 0, "at most this many events per second (0: unlimited)")
	fl.StringVar(&operator, "operator", "", "who replays, for the audit trail (default $USER)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON result per entry and a summary")
	return cmd
}

func newDlqPurgeCmd(conn *dlqConn, deps dlqDeps) *cobra.Command {
	var ff filterFlags
	var all, yes, dryRun, asJSON bool
	var operator string
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete dead-lettered events for good",
		Long: `Delete the selected dead-letter entries for good. Nothing is deleted
without --yes; --dry-run lists what would be deleted. Each deletion is
recorded in the audit trail with the operator.`,
		Example: `  dmzbridge dlq purge --config bridge.yaml --id 42 --yes
  dmzbridge dlq purge --config bridge.yaml --partner dealer-c --reason malformed --dry-run
  dmzbridge dlq purge --config bridge.yaml --until 2026-11-01 --yes --operator alice`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := selection(&ff, all, deps.now())
			if err != nil {
				return err
			}
			if !yes && !dryRun {
				return usageError{errors.New("purge deletes entries for good: add --yes (or --dry-run to see what it would delete)")}
			}
			ctx := cmd.Context()
			s, err := conn.open(ctx, deps)
			if err != nil {
				return err
			}
			defer s.Close()
			var rec dlq.Recorder
			if !dryRun && deps.recorder != nil {
				if rec, err = deps.recorder(ctx, s.store.JetStream(), s.store.Topology(), s.cfg, operatorName(operator), deps.now); err != nil {
					return err
				}
			}
			seqs, err := s.store.Seqs(ctx, f)
			if err != nil {
				return err
			}
			if len(seqs) == 0 && len(f.IDs) > 0 {
				return codedError{exitNotFound, fmt.Errorf("%w: %s", dlq.ErrNotFound, strings.Join(f.IDs, ", "))}
			}
			verb := "purged"
			if dryRun {
				verb = "would purge"
			}
			return runBatch(cmd, deps, s.store, seqs, asJSON, verb, func(e *dlq.Entry) (dlq.Result, error) {
				if dryRun {
					return dlq.Result{Seq: e.Seq, ID: e.ID, Partner: e.Partner, Outcome: dlq.WouldPurge}, nil
				}
				return dlq.Purge(ctx, s.store, rec, e)
			})
		},
	}
	ff.register(cmd, true)
	fl := cmd.Flags()
	fl.BoolVar(&all, "all", false, "purge every entry")
	fl.BoolVar(&yes, "yes", false, "really delete")
	fl.BoolVar(&dryRun, "dry-run", false, "list what would be deleted; change nothing")
	fl.StringVar(&operator, "operator", "", "who purges, for the audit trail (default $USER)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON result per entry and a summary")
	return cmd
}

// runBatch applies fn to every selected entry, fetched one at a time,
// printing results (entries left behind in text mode, every entry in
// JSON), progress to stderr, and a summary. Entries left behind make the
// exit code 5.
func runBatch(cmd *cobra.Command, deps dlqDeps, st *dlq.Store, seqs []uint64, asJSON bool, verb string, fn func(*dlq.Entry) (dlq.Result, error)) error {
	out := cmd.OutOrStdout()
	sum := summary{Selected: len(seqs)}
	prog := &progress{w: deps.stderr, verb: verb, total: len(seqs), last: time.Now()}
	var results []dlq.Result
	var stopErr error
	done := 0
	for _, seq := range seqs {
		e, err := st.Get(cmd.Context(), seq)
		if errors.Is(err, dlq.ErrNotFound) {
			// Removed since it was selected (a concurrent replay or purge).
			sum.Gone++
			done++
			continue
		}
		if err != nil {
			stopErr = err
			break
		}
		res, err := fn(e)
		if err != nil {
			stopErr = err
			break
		}
		done++
		sum.add(res.Outcome)
		if asJSON {
			res.Detail = maskText(res.Detail)
			results = append(results, res)
		} else {
			switch res.Outcome {
			case dlq.Replayed, dlq.Purged:
			default:
				line := fmt.Sprintf("%s %d %s %s", res.Outcome, res.Seq, res.Partner, res.ID)
				if res.Reason != "" {
					line += " " + res.Reason
				}
				if res.Detail != "" {
					line += ": " + maskText(res.Detail)
				}
				fmt.Fprintln(out, line)
			}
		}
		prog.update(done, sum, false)
	}
	prog.update(done, sum, true)
	if asJSON {
		if results == nil {
			results = []dlq.Result{}
		}
		if err := writeJSON(out, struct {
			Results []dlq.Result `json:"results"`
			Summary summary      `json:"summary"`
		}{results, sum}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "%d selected: %d replayed, %d purged, %d still rejected, %d failed, %d would replay, %d would be rejected, %d would be purged, %d already gone\n",
			sum.Selected, sum.Replayed, sum.Purged, sum.StillRejected, sum.Failed, sum.WouldReplay, sum.WouldReject, sum.WouldPurge, sum.Gone)
	}
	if stopErr != nil {
		return fmt.Errorf("stopped after %d of %d entries: %w", done, len(seqs), stopErr)
	}
	if left := sum.StillRejected + sum.Failed; left > 0 {
		return codedError{exitPartial, fmt.Errorf("%d of %d entries left in the dead-letter stream", left, sum.Selected)}
	}
	if sum.WouldReject > 0 {
		return codedError{exitPartial, fmt.Errorf("%d of %d entries would be left in the dead-letter stream", sum.WouldReject, sum.Selected)}
	}
	return nil
}
