package main

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/schemacheck"
)

func newSchemaCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "schema", Short: "Event schema tools"}
	cmd.AddCommand(newSchemaCheckCmd())
	return cmd
}

func newSchemaCheckCmd() *cobra.Command {
	var (
		cfgPath, samples, mode string
		intended               []string
		asJSON                 bool
	)
	cmd := &cobra.Command{
		Use:   "check [SCHEMAS_DIR]",
		Short: "Report changes in each type's newest schema version that would reject events the previous version accepted",
		Long: `Compares, for every event type with two or more versions (<type>.v<N>.json),
the newest version with the one before it. Each finding names the JSON pointer
and the rule. Exit code 6 when a type breaks compatibility and is not marked
--intended; 0 when every type is compatible.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := schemacheck.ParseMode(mode)
			if err != nil {
				return usageError{err}
			}
			dir := "schemas"
			switch {
			case len(args) == 1:
				dir = args[0]
			case cfgPath != "":
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return err
				}
				dir = cfg.SchemasDir
			}
			opts := schemacheck.Options{Mode: m, Intended: intended}
			if samples != "" {
				if _, err := os.Stat(samples); err != nil {
					return usageError{err}
				}
				opts.Samples = os.DirFS(samples)
			}
			if _, err := os.Stat(dir); err != nil {
				return usageError{err}
			}
			reps, err := schemacheck.Check(os.DirFS(dir), dir, opts)
			if err != nil {
				return err
			}
			var broken int
			if asJSON {
				for _, r := range reps {
					if r.Breaks() {
						broken++
					}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(reps); err != nil {
					return err
				}
			} else {
				broken = schemacheck.Print(cmd.OutOrStdout(), reps, m)
			}
			if broken > 0 {
				return schemacheck.IncompatibleError{Types: broken}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "take schemas_dir from this config file")
	f.StringVar(&mode, "mode", "backward", "backward (new accepts all the old accepted), forward, or full")
	f.StringSliceVar(&intended, "intended", nil, "event type (or type.vN) whose break is intended; repeatable")
	f.StringVar(&samples, "samples", "", "folder of sample events (*.json) to run through both versions")
	f.BoolVar(&asJSON, "json", false, "print the reports as JSON")
	return cmd
}
