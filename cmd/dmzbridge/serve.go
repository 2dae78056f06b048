package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

func newServeCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the bridge until SIGINT or SIGTERM",
		Long: `Run the bridge: take partner events in, persist them in JetStream and
forward them to the ERP. On SIGINT or SIGTERM intake stops, in-flight events
are stored and acknowledged, and the process exits without losing anything.
The drain takes at most shutdown_timeout (default 30s); an event not
acknowledged by then is redelivered by its partner's broker.`,
		Example: `  dmzbridge serve --config /etc/dmzbridge/bridge.yaml`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The same check as config check, so a problem stops serve with
			// the same message and exit code (3) before anything connects.
			rep := checkFile(path, config.InspectOptions{})
			if err := rep.Err(); err != nil {
				return err
			}
			cfg := rep.Config
			log := newLogger(cfg.Log)
			b, err := app.Start(cmd.Context(), cfg, app.Options{Logger: log})
			if err != nil {
				return fmt.Errorf("start: %w", err)
			}
			defer b.Close()
			return b.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "dmzbridge.yaml", "configuration file")
	return cmd
}
