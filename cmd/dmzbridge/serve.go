package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

func newServeCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the bridge until SIGINT or SIGTERM; SIGHUP reloads",
		Long: `Run the bridge: take partner events in, persist them in JetStream and
forward them to the ERP. On SIGINT or SIGTERM intake stops, in-flight events
are stored and acknowledged, and the process exits without losing anything.
The drain takes at most shutdown_timeout (default 30s); an event not
acknowledged by then is redelivered by its partner's broker.
On SIGHUP (or dmzbridge reload) the bridge re-reads its configuration and
schemas_dir and applies the difference without a restart; a configuration
that is invalid or needs a restart is refused and nothing changes.`,
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
			// SIGHUP is a reload, never the end of the process (Go's
			// default for it): caught before the bridge starts.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := func() (*config.Config, error) {
				rep := checkFile(path, config.InspectOptions{})
				if err := rep.Err(); err != nil {
					return nil, err
				}
				return rep.Config, nil
			}
			b, err := app.Start(cmd.Context(), cfg, app.Options{Logger: log, Reload: reload})
			if err != nil {
				return fmt.Errorf("start: %w", err)
			}
			defer b.Close()
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						b.Reload(ctx, "signal")
					}
				}
			}()
			err = b.Run(ctx)
			stop()
			<-done
			return err
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "dmzbridge.yaml", "configuration file")
	return cmd
}
