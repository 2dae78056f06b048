package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE...",
		Short: "Validate configuration files without connecting to anything",
		Long: `Validate configuration files: YAML syntax, unknown fields, required
values, environment variables, connector options. Every problem is reported
with its field path; the exit code is 3 when any file is invalid.`,
		Example: `  dmzbridge config check deploy/config/bank.yaml
  dmzbridge config check deploy/config/*.yaml`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, files []string) error {
			var failed error
			for _, f := range files {
				cfg, err := config.Load(f)
				if err == nil {
					err = app.Check(cfg, app.Registry())
				}
				if err != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: invalid\n", f)
					for _, line := range splitLines(err.Error()) {
						fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", line)
					}
					if failed == nil {
						failed = err
					}
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (environment %s, %d partners, erp %s, durability %s)\n",
					f, cfg.Environment, len(cfg.Partners), cfg.ERP.Sink.Type, cfg.JetStream.Durability)
				for _, p := range cfg.Partners {
					if len(p.AllowedTypes) == 0 && !p.Identity.Enabled() {
						fmt.Fprintf(cmd.OutOrStdout(), "  partner %s: payload not read (no allowed_types, no identity rule)\n", p.Name)
						continue
					}
					l := p.Limits.Effective(cfg.Limits)
					fmt.Fprintf(cmd.OutOrStdout(), "  partner %s: %s; limits: depth %d, string %d B, number %d B, name %d B\n",
						p.Name, p.Identity.Describe(), l.MaxDepth, l.MaxStringBytes, l.MaxNumberBytes, l.MaxNameBytes)
				}
			}
			if failed != nil {
				return config.FieldErrors{{Msg: "configuration invalid"}}
			}
			return nil
		},
	})
	return cmd
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  usageArgs(cobra.NoArgs),
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "dmzbridge", app.Version)
		},
	}
}
