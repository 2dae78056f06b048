// Command dmzbridge is the integration DMZ's message bridge: partners'
// AMQP, Kafka and NATS traffic in, validated and masked events out to the
// ERP, with dead letters the operators can inspect and replay.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/config"

	// The connectors this binary ships: each registers itself.
	_ "github.com/dmzbridge/dmzbridge/connectors/amqp"
	_ "github.com/dmzbridge/dmzbridge/connectors/kafka"
	_ "github.com/dmzbridge/dmzbridge/connectors/nats"
)

// Exit codes scripts can rely on.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitConfig  = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	err := root.ExecuteContext(ctx)
	os.Exit(exitCode(err))
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "dmzbridge",
		Short:         "Message bridge between partner brokers and the ERP, for an integration DMZ",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newServeCmd(), newDemoCmd(), newConfigCmd(), newVersionCmd())
	root.AddCommand(newDlqCmd(defaultDlqDeps()))
	root.AddCommand(newAuditCmd(), newSchemaCmd())
	root.AddCommand(newStatusCmd(time.Now), newReloadCmd())
	root.AddCommand(newBenchCmd())
	root.AddCommand(newBenchBrokersCmd())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	return root
}

type usageError struct{ error }

// usageArgs marks argument-count errors as usage errors (exit code 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var fe config.FieldErrors
	if errors.As(err, &fe) && len(fe) > 1 {
		// One problem a line, as config check prints them.
		fmt.Fprintf(os.Stderr, "dmzbridge: configuration invalid (%d problems):\n", len(fe))
		for _, e := range fe {
			fmt.Fprintf(os.Stderr, "  %s\n", e.Error())
		}
	} else {
		fmt.Fprintln(os.Stderr, "dmzbridge:", err)
	}
	var ue usageError
	var coded interface{ ExitCode() int }
	switch {
	case errors.As(err, &coded):
		return coded.ExitCode()
	case errors.As(err, &fe):
		return exitConfig
	case errors.As(err, &ue):
		return exitUsage
	default:
		return exitFailure
	}
}

func newLogger(cfg config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
