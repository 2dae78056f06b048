package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/dlq"
)

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
	if out.Since, err = dlq.ParseWhen(f.since, now); err != nil {
		return out, usageError{fmt.Errorf("--since: %w", err)}
	}
	if out.Until, err = dlq.ParseWhen(f.until, now); err != nil {
		return out, usageError{fmt.Errorf("--until: %w", err)}
	}
	return out, nil
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

// openRecorder opens the audit trail of the session's store, recording as
// the --operator flag or $USER says.
func (d dlqDeps) openRecorder(ctx context.Context, s *dlq.Session, operator string) (dlq.Recorder, error) {
	return d.recorder(ctx, s.Store.JetStream(), s.Store.Topology(), s.Config, operatorName(operator), d.now)
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

// engineFlags are the flags replay, purge and reseal share.
type engineFlags struct {
	filterFlags
	all, dryRun, asJSON bool
	operator            string
}

// register adds the shared flags; verb names the command in their help
// ("replay"), dryRunHelp says what --dry-run does for it.
func (e *engineFlags) register(cmd *cobra.Command, verb, dryRunHelp string) {
	e.filterFlags.register(cmd, true)
	fl := cmd.Flags()
	fl.BoolVar(&e.all, "all", false, verb+" every entry")
	fl.BoolVar(&e.dryRun, "dry-run", false, dryRunHelp)
	fl.StringVar(&e.operator, "operator", "", "who "+verb+"s, for the audit trail (default $USER)")
	fl.BoolVar(&e.asJSON, "json", false, "print one JSON result per entry and a summary")
}

// recorder opens the audit recorder of a run that changes entries; a dry
// run records nothing.
func (e *engineFlags) recorder(ctx context.Context, deps dlqDeps, s *dlq.Session) (dlq.Recorder, error) {
	if e.dryRun || deps.recorder == nil {
		return nil, nil
	}
	return deps.openRecorder(ctx, s, e.operator)
}
