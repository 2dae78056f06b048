package app

import (
	"bytes"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// Diff is what a reload would change between the running config and a
// new one. Partner lists are sorted by name.
type Diff struct {
	// Added partners start; Removed partners drain and stop.
	Added, Removed []string
	// Connector lists partners whose inbound connector restarts
	// (connector type or options, credentials, TLS, environment, rate
	// limit). Their policies are swapped with everyone's too.
	Connector []string
	// Forwarder lists partners whose forwarder restarts (retry settings).
	Forwarder []string
	// Policy lists partners whose rules changed (allowed types, masking,
	// identity, limits, size); they take effect with the chain swap.
	Policy []string
	// Global names bridge-wide policy fields that changed (limits,
	// schemas_dir).
	Global []string
	// Restart names the changed fields a reload cannot apply.
	Restart []string
	// Schemas is set when the schema files changed.
	Schemas bool
}

// Empty reports whether the reload would change nothing.
func (d Diff) Empty() bool {
	return len(d.Added)+len(d.Removed)+len(d.Connector)+len(d.Forwarder)+len(d.Policy)+len(d.Global)+len(d.Restart) == 0 && !d.Schemas
}

// String is a one-line summary for logs and the audit trail. It names
// fields and partners, never values, so it holds no secret.
func (d Diff) String() string {
	if d.Empty() {
		return "no change"
	}
	var parts []string
	add := func(label string, names []string) {
		if len(names) > 0 {
			parts = append(parts, label+" "+strings.Join(names, ","))
		}
	}
	add("added", d.Added)
	add("removed", d.Removed)
	add("connector", d.Connector)
	add("forwarder", d.Forwarder)
	add("policy", d.Policy)
	add("global", d.Global)
	add("needs restart", d.Restart)
	if d.Schemas {
		parts = append(parts, "schemas changed")
	}
	return strings.Join(parts, "; ")
}

// restartFields are the top-level fields a running bridge cannot change:
// the store, its durability, the ERP sink and the process's own plumbing.
var restartFields = []struct {
	name string
	get  func(*config.Config) any
}{
	{"environment", func(c *config.Config) any { return c.Environment }},
	{"jetstream", func(c *config.Config) any { return c.JetStream }},
	{"forward", func(c *config.Config) any { return c.Forward }},
	{"erp", func(c *config.Config) any { return c.ERP }},
	{"admin", func(c *config.Config) any { return c.Admin }},
	{"log", func(c *config.Config) any { return c.Log }},
	{"tracing", func(c *config.Config) any { return c.Tracing }},
	{"shutdown_timeout", func(c *config.Config) any { return c.ShutdownTimeout }},
	{"dead_letter", func(c *config.Config) any { return c.DeadLetter }},
}

// CompareConfigs computes the Diff between the running config and a new
// one. schemasChanged comes from comparing the schema files themselves.
func CompareConfigs(old, cur *config.Config, schemasChanged bool) Diff {
	d := Diff{Schemas: schemasChanged}
	for _, f := range restartFields {
		if !same(f.get(old), f.get(cur)) {
			d.Restart = append(d.Restart, f.name)
		}
	}
	if !same(old.Limits, cur.Limits) {
		d.Global = append(d.Global, "limits")
	}
	if old.SchemasDir != cur.SchemasDir {
		d.Global = append(d.Global, "schemas_dir")
	}
	was := map[string]config.Partner{}
	for _, p := range old.Partners {
		was[p.Name] = p
	}
	is := map[string]bool{}
	for _, p := range cur.Partners {
		is[p.Name] = true
		o, ok := was[p.Name]
		if !ok {
			d.Added = append(d.Added, p.Name)
			continue
		}
		if !same(o.Inbound, p.Inbound) || o.Environment != p.Environment || !same(o.RateLimit, p.RateLimit) {
			d.Connector = append(d.Connector, p.Name)
		}
		if !same(o.Retry, p.Retry) {
			d.Forwarder = append(d.Forwarder, p.Name)
		}
		if !same(o.PartnerChecks, p.PartnerChecks) {
			d.Policy = append(d.Policy, p.Name)
		}
	}
	for _, p := range old.Partners {
		if !is[p.Name] {
			d.Removed = append(d.Removed, p.Name)
		}
	}
	for _, s := range [][]string{d.Added, d.Removed, d.Connector, d.Forwarder, d.Policy} {
		sort.Strings(s)
	}
	return d
}

// same compares two config values through their YAML form, which covers
// the connector options (yaml.Node) and every nested field alike. The
// form holds secrets, so it is compared and never kept.
func same(a, b any) bool {
	ya, errA := yaml.Marshal(a)
	yb, errB := yaml.Marshal(b)
	if errA != nil || errB != nil {
		return false
	}
	return bytes.Equal(ya, yb)
}
