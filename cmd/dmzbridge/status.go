package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/telemetry"
)

// newStatusCmd reads GET /status from the running bridge's admin listener.
// It asks the bridge rather than JetStream because connector states, rates
// and certificate expiry live only in the bridge process. now is the clock
// the relative times are printed against (tests fix it).
func newStatusCmd(now func() time.Time) *cobra.Command {
	var (
		cfgPath, adminURL string
		asJSON            bool
		timeout           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each partner's link state, rate, backlog, dead letters and certificate expiry",
		Long: `Ask the running bridge (GET /status on its admin listener) for one row per
partner: connector state (up, connecting, down), events received per second
since the last poll, backlog (stored, not yet confirmed by the ERP), how long
its oldest event has waited, dead-letter depth and the nearest certificate
expiry; then the ERP sink, the durability mode, how full the JetStream
streams and account are, readiness and every configured certificate.

The address is admin.listen from --config, or --admin. The bridge's gauges
are polled every 5 s, so values can be that old. Exit code 0 when the report
was read (also when the bridge is not ready: see its readiness line), 1 when
the bridge cannot be reached, 3 when the configuration is invalid.`,
		Example: `  dmzbridge status --config /etc/dmzbridge/bridge.yaml
  dmzbridge status --admin http://127.0.0.1:9180 --json | jq '.partners[] | select(.state != "up")'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := statusBase(adminURL, cfgPath)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			st, raw, err := telemetry.FetchStatus(ctx, base)
			if errors.As(err, new(telemetry.AdminURLError)) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				// The bridge's own document, so fields this CLI version does
				// not know still reach scripts.
				_, err := out.Write(raw)
				return err
			}
			return telemetry.WriteStatus(out, st, now())
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&cfgPath, "config", "c", "dmzbridge.yaml", "bridge configuration (for admin.listen)")
	fl.StringVar(&adminURL, "admin", "", "admin listener URL or host:port, overriding the configuration")
	fl.BoolVar(&asJSON, "json", false, "print the bridge's /status JSON")
	fl.DurationVar(&timeout, "timeout", 10*time.Second, "give up on the bridge after this long")
	return cmd
}

// statusBase is the admin listener's base URL, from --admin or from the
// configuration's admin.listen.
func statusBase(adminURL, cfgPath string) (string, error) {
	if adminURL != "" {
		if !strings.Contains(adminURL, "://") {
			adminURL = "http://" + adminURL
		}
		return strings.TrimRight(adminURL, "/"), nil
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return "", fmt.Errorf("admin address from %s (or pass --admin): %w", cfgPath, err)
	}
	listen := cfg.Admin.Listen
	if listen == "off" {
		return "", fmt.Errorf("%s has admin.listen: off, so the bridge serves no /status; enable it or pass --admin", cfgPath)
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%s: admin.listen %q: %w", cfgPath, listen, err)
	}
	// A bridge listening on every interface is reachable on loopback too;
	// the unspecified address itself cannot be dialled everywhere.
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port), nil
}
