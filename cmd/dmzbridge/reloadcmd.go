package main

import (
	"fmt"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/telemetry"
)

// reloadRefused is a reload the bridge refused: exit code 7.
type reloadRefused struct{ msg string }

func (e reloadRefused) Error() string { return "reload refused: " + e.msg }
func (reloadRefused) ExitCode() int   { return 7 }

func newReloadCmd() *cobra.Command {
	var cfgPath, adminURL, operator string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Ask the running bridge to reload its configuration and schemas",
		Long: `Ask the running bridge (POST /reload on its loopback admin listener) to
re-read its configuration file and schemas_dir and apply the difference
without a restart, as SIGHUP does. The bridge checks the new configuration
as config check does and runs the schema compatibility check first; an
invalid configuration, an incompatible schema or a change that needs a
restart (jetstream, forward, erp, admin, log, tracing, dead_letter,
shutdown_timeout, environment) is refused and nothing changes.
Exit code 0 when applied, 7 when refused (the reason is printed), 1 when
the bridge cannot be reached.`,
		Example: `  dmzbridge reload --config /etc/dmzbridge/bridge.yaml
  dmzbridge reload --admin 127.0.0.1:9180 --operator alice`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := statusBase(adminURL, cfgPath)
			if err != nil {
				return err
			}
			if operator == "" {
				if u, err := user.Current(); err == nil {
					operator = u.Username
				}
			}
			ctx := cmd.Context()
			st, err := telemetry.RequestReload(ctx, base, operator, timeout)
			if err != nil {
				return err
			}
			if st.Outcome != telemetry.ReloadApplied {
				return reloadRefused{st.Error}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reload applied: %s\n", st.Changes)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&cfgPath, "config", "c", "dmzbridge.yaml", "bridge configuration (for admin.listen)")
	fl.StringVar(&adminURL, "admin", "", "admin listener URL or host:port, overriding the configuration")
	fl.StringVar(&operator, "operator", "", "who asks, for the audit trail (default: the OS user)")
	fl.DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the bridge's answer")
	return cmd
}
