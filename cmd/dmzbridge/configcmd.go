package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	var print, skipFiles bool
	check := &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate configuration files without connecting to anything",
		Long: `Validate configuration files in one pass: YAML syntax, unknown fields,
types, required values, environment variables, connector options, schemas,
and the files the configuration refers to (TLS CA, certificate and key,
NATS credentials). Certificates are parsed and their expiry is shown.
Every problem is reported with its field path; the exit code is 3 when any
file is invalid, the same code serve exits with for the same problem.
With --print the effective configuration (defaults filled in, secrets
redacted) is printed after the check.`,
		Example: `  dmzbridge config check deploy/config/local.yaml
  dmzbridge config check --print deploy/config/bank.yaml
  dmzbridge config check deploy/config/*.yaml`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, files []string) error {
			out := cmd.OutOrStdout()
			failed := 0
			for _, f := range files {
				rep := checkFile(f, config.InspectOptions{SkipFiles: skipFiles})
				if err := rep.Err(); err != nil {
					failed++
					fmt.Fprintf(out, "%s: invalid (%d %s)\n", f, len(rep.Errors), plural(len(rep.Errors), "problem", "problems"))
					for _, e := range rep.Errors {
						writeIndented(out, e.Error())
					}
				} else {
					cfg := rep.Config
					fmt.Fprintf(out, "%s: ok (environment %s, %d partners, erp %s, durability %s)\n",
						f, cfg.Environment, len(cfg.Partners), cfg.ERP.Sink.Type, cfg.JetStream.Durability)
					inbound := app.DescribeSources(cfg, app.Registry())
					for _, p := range cfg.Partners {
						var in string
						if d := inbound[p.Name]; d != "" {
							in = "; inbound: " + d
						}
						if len(p.AllowedTypes) == 0 && !p.Identity.Enabled() {
							fmt.Fprintf(out, "  partner %s: payload not read (no allowed_types, no identity rule)%s\n", p.Name, in)
							continue
						}
						l := p.Limits.Effective(cfg.Limits)
						fmt.Fprintf(out, "  partner %s: %s; limits: depth %d, string %d B, number %d B, name %d B%s\n",
							p.Name, p.Identity.Describe(), l.MaxDepth, l.MaxStringBytes, l.MaxNumberBytes, l.MaxNameBytes, in)
					}
				}
				for _, n := range rep.Notes {
					writeIndented(out, "note: "+n.Error())
				}
				if print && rep.Config != nil {
					y, err := rep.Config.Redacted()
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "# effective configuration of %s (defaults filled in, secrets redacted)\n%s", f, y)
				}
			}
			if failed > 0 {
				return config.FieldErrors{{Msg: fmt.Sprintf("%d of %d configuration %s invalid", failed, len(files), plural(len(files), "file", "files"))}}
			}
			return nil
		},
	}
	check.Flags().BoolVar(&print, "print", false, "print the effective configuration, defaults filled in and secrets redacted")
	check.Flags().BoolVar(&skipFiles, "skip-files", false, "do not check the files the configuration refers to (when checking it on another machine than the one it runs on)")
	cmd.AddCommand(check)
	cmd.AddCommand(&cobra.Command{
		Use:   "reference",
		Short: "Print the full configuration reference as Markdown",
		Long: `Print every configuration field with its type, default and a line of
documentation, generated from the code. The README's configuration
reference is this output (task docs rewrites it).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(cmd.OutOrStdout(), config.Reference())
			return err
		},
	})
	return cmd
}

// checkFile is the whole check of one file: what config finds on its own,
// then every connector's options and the schemas, on whatever decoded, so
// one problem never hides another. serve refuses to start on the same.
func checkFile(path string, opts config.InspectOptions) *config.Report {
	rep := config.Inspect(path, opts)
	if rep.Config != nil {
		rep.Errors.Merge("", app.Check(rep.Config, app.Registry()))
		// The compatibility check of each type's newest schema version, as
		// a reload runs it: only when the schemas themselves compiled.
		if !hasProblemAt(rep.Errors, "schemas_dir") {
			notes, err := app.SchemaCheck(rep.Config)
			for _, n := range notes {
				rep.Notes.Add("schemas_dir", "%s", n)
			}
			if err != nil {
				rep.Errors.Add("schemas_dir", "%v", err)
			}
		}
	}
	// Problems come from several passes; in path order they read like the file.
	sort.SliceStable(rep.Errors, func(i, j int) bool { return rep.Errors[i].Path < rep.Errors[j].Path })
	return rep
}

func hasProblemAt(errs config.FieldErrors, path string) bool {
	for _, e := range errs {
		if e.Path == path || strings.HasPrefix(e.Path, path+".") || strings.HasPrefix(e.Path, path+"[") {
			return true
		}
	}
	return false
}

func writeIndented(w io.Writer, s string) {
	for _, line := range strings.Split(s, "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and build time",
		Args:  usageArgs(cobra.NoArgs),
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
		},
	}
}
