package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

func newAuditCmd() *cobra.Command {
	var (
		conn                              dlqConn
		partner, id, action, since, until string
		limit                             int
		asJSON                            bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Query the audit trail: who reached the ERP, what was dead-lettered, replayed or purged",
		Long: `Query the audit trail stored in JetStream. Every decision has one record:
received, forwarded, dead_lettered, replayed, purged — with partner,
connector, message id, event type, the payload's SHA-256, outcome, time and,
for CLI actions, the operator. Records never hold payload values.

--since and --until take RFC 3339 times or durations back from now (2h).`,
		Example: `  dmzbridge audit --config bridge.yaml --partner bank-a --since 2h
  dmzbridge audit --server nats://nats:4222 --creds ops.creds --action dead_lettered
  dmzbridge audit --config bridge.yaml --id 8f14e45f --json
  dmzbridge audit --config bridge.yaml --action replayed --since 2026-11-01T00:00:00Z`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			actions := []string{audit.ActionReceived, audit.ActionForwarded, audit.ActionDeadLettered, audit.ActionReplayed, audit.ActionPurged}
			if action != "" && !slices.Contains(actions, action) {
				return usageError{fmt.Errorf("--action %q is not an audit action; valid: %s", action, strings.Join(actions, ", "))}
			}
			f := audit.Filter{Partner: partner, MessageID: id, Action: action, Limit: limit}
			var err error
			if f.Since, err = parseWhen(since, now); err != nil {
				return usageError{fmt.Errorf("--since: %w", err)}
			}
			if f.Until, err = parseWhen(until, now); err != nil {
				return usageError{fmt.Errorf("--until: %w", err)}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			// The same connection as the dlq commands: flags, config, and the
			// embedded store opened directly when no bridge is running.
			s, err := conn.open(ctx, defaultDlqDeps())
			if err != nil {
				return err
			}
			defer s.Close()
			js, err := jetstream.New(s.Conn(), jetstream.WithDefaultTimeout(conn.timeout))
			if err != nil {
				return fmt.Errorf("jetstream: %w", err)
			}
			prefix := "DMZ"
			if s.Config != nil {
				prefix = s.Config.JetStream.StreamPrefix
			}
			if conn.prefix != "" {
				prefix = conn.prefix
			}
			recs, err := audit.Query(ctx, js, store.NewTopology(prefix), f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				for _, r := range recs {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTION\tPARTNER\tCONNECTOR\tMESSAGE ID\tTYPE\tOUTCOME\tOPERATOR\tSHA-256")
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.16s\n", r.Time.Format(time.RFC3339Nano), r.Action, r.Partner,
					dash(r.Connector), r.MessageID, dash(r.EventType), r.Outcome, dash(r.Operator), r.PayloadSHA256)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "%d records\n", len(recs))
			return nil
		},
	}
	fl := cmd.Flags()
	addConnFlags(fl, &conn)
	fl.StringVar(&conn.server, "url", "", "NATS URL")
	_ = fl.MarkDeprecated("url", "use --server, as the dlq commands do")
	fl.StringVar(&partner, "partner", "", "only this partner")
	fl.StringVar(&id, "id", "", "only this message id")
	fl.StringVar(&action, "action", "", "only this action (received, forwarded, dead_lettered, replayed, purged)")
	fl.StringVar(&since, "since", "", "from this time (RFC 3339) or this long ago (e.g. 24h)")
	fl.StringVar(&until, "until", "", "up to this time (RFC 3339) or this long ago")
	fl.IntVar(&limit, "limit", 0, "stop after this many records (0: all)")
	fl.BoolVar(&asJSON, "json", false, "one JSON record per line")
	return cmd
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return t, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
