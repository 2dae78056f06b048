package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/demo"
)

func newDemoCmd() *cobra.Command {
	var o demo.Options
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a self-contained demo: embedded JetStream, sample partners, an ERP consumer",
		Long: `Start the bridge on an embedded JetStream server in a temporary directory,
let three simulated partners publish sample events, print what the ERP
receives and end with a summary. Needs no broker and no configuration.
With --keep DIR the store, schemas and configuration stay in DIR, so the
dlq commands the demo suggests work on its dead letters afterwards.`,
		Example: `  dmzbridge demo
  dmzbridge demo --events 1000 --verbose
  dmzbridge demo --keep ./demo && dmzbridge dlq list --config ./demo/dmzbridge.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			if verbose {
				o.Logger = newLogger(config.Log{Level: "info", Format: "text"})
			}
			err := demo.Run(cmd.Context(), o)
			if errors.As(err, new(demo.KeepDirError)) {
				return usageError{err}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.Keep, "keep", "", "keep the store, schemas and configuration in this new or empty directory")
	cmd.Flags().IntVar(&o.PerPartner, "events", 200, "events each partner sends")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "show the bridge's log")
	return cmd
}
