package main

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/schemas"
)

// addConnFlags registers the connection flags every command that reaches
// JetStream shares (dlq, audit): the same names, meanings and defaults.
func addConnFlags(fs *pflag.FlagSet, c *dlqConn) {
	fs.StringVarP(&c.config, "config", "c", "", "bridge configuration file: JetStream address, credentials, TLS, stream prefix (and for dlq the stages and masking policy)")
	fs.StringVar(&c.server, "server", "", "NATS URL (default: from --config, else $NATS_URL, else nats://127.0.0.1:14222)")
	fs.StringVar(&c.creds, "creds", "", "NATS credentials file")
	fs.StringVar(&c.user, "user", "", "NATS user")
	fs.StringVar(&c.password, "password", "", "NATS password (prefer $NATS_PASSWORD)")
	fs.StringVar(&c.prefix, "prefix", "", "stream prefix (default: from --config, else DMZ)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "timeout for connecting and for each JetStream request")
}

// checkFilterFlags makes an unknown --reason or --type a usage error that
// lists the valid values, instead of a filter that silently matches
// nothing. Event types are those with a schema: in the configuration's
// schemas_dir with --config, else the shipped schemas; plus every
// partner's allowed_types.
func checkFilterFlags(cmd *cobra.Command, conn *dlqConn) error {
	if fl := cmd.Flags().Lookup("reason"); fl != nil && fl.Changed {
		reasons, _ := cmd.Flags().GetStringSlice("reason")
		valid := bridge.Reasons()
		for _, r := range reasons {
			if !slices.Contains(valid, r) {
				return usageError{fmt.Errorf("--reason %q is not a reason code; valid: %s", r, strings.Join(valid, ", "))}
			}
		}
	}
	if fl := cmd.Flags().Lookup("type"); fl != nil && fl.Changed {
		types, _ := cmd.Flags().GetStringSlice("type")
		valid, err := knownTypes(conn.config)
		if err != nil {
			return err
		}
		for _, t := range types {
			if !slices.Contains(valid, t) {
				return usageError{fmt.Errorf("--type %q is not a known event type; valid: %s", t, strings.Join(valid, ", "))}
			}
		}
	}
	return nil
}

func knownTypes(cfgPath string) ([]string, error) {
	var fsys fs.FS = schemas.FS
	set := map[string]bool{}
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return nil, err
		}
		for _, p := range cfg.Partners {
			for _, t := range p.AllowedTypes {
				set[t] = true
			}
		}
		fsys = os.DirFS(cfg.SchemasPath())
	}
	// Schema files are named <type>.v<N>.json.
	entries, _ := fs.ReadDir(fsys, ".")
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if i := strings.LastIndex(name, ".v"); i > 0 {
			set[name[:i]] = true
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}
