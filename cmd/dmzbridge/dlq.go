package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/dlq"
	"github.com/dmzbridge/dmzbridge/bridge/store"
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
	stages func(*config.Config) (*app.Chain, error)
	// recorder builds the audit recorder for replay and purge.
	recorder func(ctx context.Context, js jetstream.JetStream, topo store.Topology, cfg *config.Config, operator string, now func() time.Time) (dlq.Recorder, error)
	// policy builds the display masking policy from the config.
	policy func(*config.Config) (func(partner, eventType string, doc any) any, error)
	stderr io.Writer
	// getenv reads the sealing key's variable.
	getenv func(string) string
	// progressEvery is how often a progress line is printed when stderr
	// is not a terminal.
	progressEvery time.Duration
}

func defaultDlqDeps() dlqDeps {
	policies := func(c *config.Config) (func(string, string, any) any, error) {
		return dlq.PartnerPolicies(c, os.Getenv)
	}
	return dlqDeps{now: time.Now, stages: app.NewChain, recorder: dlq.OpenTrailRecorder, policy: policies,
		stderr: os.Stderr, getenv: os.Getenv, progressEvery: 3 * time.Second}
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
		newDlqResealCmd(&conn, deps),
	)
	return cmd
}

// open connects to the dead-letter stream as the flags and config say.
func (c *dlqConn) open(ctx context.Context, deps dlqDeps) (*dlq.Session, error) {
	t := dlq.Target{Server: c.server, Creds: c.creds, User: c.user, Password: c.password, Prefix: c.prefix,
		Timeout: c.timeout, Getenv: deps.getenv, Notice: deps.stderr}
	if c.config != "" {
		cfg, err := config.Load(c.config)
		if err != nil {
			return nil, err
		}
		t.Config = cfg
	}
	return dlq.Connect(ctx, t)
}

// with opens a session, runs fn on it and closes it.
func (c *dlqConn) with(ctx context.Context, deps dlqDeps, fn func(*dlq.Session) error) error {
	s, err := c.open(ctx, deps)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
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
			return conn.with(cmd.Context(), deps, func(s *dlq.Session) error {
				entries, err := s.Store.ListHeaders(cmd.Context(), f, limit)
				if err != nil {
					return err
				}
				return dlq.WriteList(cmd.OutOrStdout(), entries, asJSON)
			})
		},
	}
	ff.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array for scripts")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many entries, oldest first (0: all)")
	return cmd
}

func newDlqShowCmd(conn *dlqConn, deps dlqDeps) *cobra.Command {
	var reveal, asJSON bool
	var operator string
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
			if err := s.NeedKey(); err != nil {
				return err
			}
			var rec func() (dlq.Recorder, error)
			if deps.recorder != nil {
				rec = func() (dlq.Recorder, error) { return deps.openRecorder(cmd.Context(), s, operator) }
			}
			e, err := s.Store.Show(cmd.Context(), args[0], reveal, rec)
			if errors.Is(err, dlq.ErrNotFound) {
				return codedError{exitNotFound, err}
			}
			if err != nil {
				return err
			}
			m := dlq.Display{}
			if s.Config != nil && deps.policy != nil {
				if m.Policy, err = deps.policy(s.Config); err != nil {
					fmt.Fprintf(deps.stderr, "dmzbridge: masking policy partly unavailable (generic masking still applies): %v\n", err)
				}
			}
			return dlq.WriteShow(cmd.OutOrStdout(), e, m, reveal, asJSON)
		},
	}
	cmd.Flags().BoolVar(&reveal, "reveal", false, "show sensitive values unmasked")
	cmd.Flags().StringVar(&operator, "operator", "", "who looks, for the audit trail (default $USER)")
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
			return conn.with(cmd.Context(), deps, func(s *dlq.Session) error {
				total, counts, err := s.Store.Count(cmd.Context(), f)
				if err != nil {
					return err
				}
				return dlq.WriteStats(cmd.OutOrStdout(), total, counts, asJSON)
			})
		},
	}
	ff.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	return cmd
}

func newDlqReplayCmd(conn *dlqConn, deps dlqDeps) *cobra.Command {
	var ef engineFlags
	var perSecond float64
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
			f, err := selection(&ef.filterFlags, ef.all, deps.now())
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
			return conn.with(ctx, deps, func(s *dlq.Session) error {
				chain, err := deps.stages(s.Config)
				if err != nil {
					return err
				}
				if err := s.NeedKey(); err != nil {
					return err
				}
				r := &dlq.Replayer{Store: s.Store, Stages: chain.Intake, Stored: chain.Stored, DryRun: ef.dryRun, Partners: map[string]bool{}}
				for _, p := range s.Config.Partners {
					r.Partners[p.Name] = true
				}
				if perSecond > 0 {
					r.Limiter = rate.NewLimiter(rate.Limit(perSecond), 1)
				}
				if r.Recorder, err = ef.recorder(ctx, deps, s); err != nil {
					return err
				}
				return runEngine(cmd, deps, f, ef.asJSON, action("replay", ef.dryRun), func(eng dlq.Engine) (dlq.Summary, error) {
					eng.JetStream = s.Config.JetStream
					return r.Run(ctx, f, eng)
				})
			})
		},
	}
	ef.register(cmd, "replay", "run the stages and report what would happen; change nothing")
	cmd.Flags().Float64Var(&perSecond, "rate", 0, "at most this many events per second (0: unlimited)")
	return cmd
}

func newDlqPurgeCmd(conn *dlqConn, deps dlqDeps) *cobra.Command {
	var ef engineFlags
	var yes bool
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
			f, err := selection(&ef.filterFlags, ef.all, deps.now())
			if err != nil {
				return err
			}
			if !yes && !ef.dryRun {
				return usageError{errors.New("purge deletes entries for good: add --yes (or --dry-run to see what it would delete)")}
			}
			ctx := cmd.Context()
			return conn.with(ctx, deps, func(s *dlq.Session) error {
				rec, err := ef.recorder(ctx, deps, s)
				if err != nil {
					return err
				}
				return runEngine(cmd, deps, f, ef.asJSON, action("purge", ef.dryRun), func(eng dlq.Engine) (dlq.Summary, error) {
					if s.Config != nil {
						eng.JetStream = s.Config.JetStream
					}
					return dlq.Purge(ctx, s.Store, rec, ef.dryRun, f, eng)
				})
			})
		},
	}
	ef.register(cmd, "purge", "list what would be deleted; change nothing")
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete")
	return cmd
}

func newDlqResealCmd(conn *dlqConn, deps dlqDeps) *cobra.Command {
	var ef engineFlags
	cmd := &cobra.Command{
		Use:   "reseal",
		Short: "Rewrite dead-letter entries under the current sealing key",
		Long: `Rewrite the selected dead-letter entries that are sealed under an old key
(dead_letter.old_keys) or stored in clear under the current sealing key
(dead_letter.seal_key_env or seal_key_file). Each rewritten entry is stored
anew (with a new sequence number) and the old one removed only after the
new one is acknowledged and the decision recorded in the audit trail, so an
interrupted reseal can be run again. Entries already under the current key
are left as they are. Once no entry needs an old key, drop it from
old_keys.`,
		Example: `  dmzbridge dlq reseal --config bridge.yaml --all --dry-run
  dmzbridge dlq reseal --config bridge.yaml --all --operator alice`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := selection(&ef.filterFlags, ef.all, deps.now())
			if err != nil {
				return err
			}
			if conn.config == "" {
				return usageError{errors.New("reseal needs --config: the sealing keys are named in the bridge configuration")}
			}
			ctx := cmd.Context()
			return conn.with(ctx, deps, func(s *dlq.Session) error {
				if err := s.NeedKey(); err != nil {
					return err
				}
				if s.Store.Keys == nil {
					return errors.New("no sealing key is configured: set dead_letter.seal_key_env or seal_key_file")
				}
				rec, err := ef.recorder(ctx, deps, s)
				if err != nil {
					return err
				}
				return runEngine(cmd, deps, f, ef.asJSON, action("reseal", ef.dryRun), func(eng dlq.Engine) (dlq.Summary, error) {
					eng.JetStream = s.Config.JetStream
					return dlq.Reseal(ctx, s.Store, rec, ef.dryRun, f, eng)
				})
			})
		},
	}
	ef.register(cmd, "reseal", "check every selected entry opens and count what would be rewritten; change nothing")
	return cmd
}

// action names a run in its progress lines.
func action(name string, dryRun bool) string {
	if dryRun {
		return name + " --dry-run"
	}
	return name
}

// runEngine runs a replay, purge or reseal, printing results, progress to
// stderr and a summary. Entries left behind make the exit code 5. An id
// given with --id that matches nothing is exit code 4.
func runEngine(cmd *cobra.Command, deps dlqDeps, f dlq.Filter, asJSON bool, action string, run func(dlq.Engine) (dlq.Summary, error)) error {
	prog := dlq.NewProgressPrinter(deps.stderr, action, deps.progressEvery)
	eng := prog.Engine()
	rep := dlq.NewReport(cmd.OutOrStdout(), asJSON)
	eng.Report = rep.Result
	sum, runErr := run(eng)
	prog.Finish()
	rep.Finish(sum)
	if runErr != nil {
		return fmt.Errorf("stopped after %d entries: %w", sum.Selected, runErr)
	}
	if sum.Selected == 0 && len(f.IDs) > 0 {
		return codedError{exitNotFound, fmt.Errorf("%w: %s", dlq.ErrNotFound, strings.Join(f.IDs, ", "))}
	}
	if left := sum.Left(); left > 0 {
		return codedError{exitPartial, fmt.Errorf("%d of %d entries left in the dead-letter stream", left, sum.Selected)}
	}
	if sum.WouldReject > 0 {
		return codedError{exitPartial, fmt.Errorf("%d of %d entries would be left in the dead-letter stream", sum.WouldReject, sum.Selected)}
	}
	return nil
}
