package app

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

const diffBase = `environment: test
jetstream: {embedded: true, store_dir: /tmp/unused}
erp: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: erp.events}}
partners:
  - name: bank
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "b.>"}}
  - name: dealer
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "d.>"}}
`

// TestCompareConfigs: each kind of change lands in its own class, and an
// unchanged partner is in none.
func TestCompareConfigs(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		schemas bool
		want    Diff
	}{
		{name: "no change", edit: func(s string) string { return s }},
		{name: "schemas only", edit: func(s string) string { return s }, schemas: true, want: Diff{Schemas: true}},
		{name: "partner added", edit: func(s string) string {
			return s + `  - name: shop
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "s.>"}}
`
		}, want: Diff{Added: []string{"shop"}}},
		{name: "partner removed", edit: func(s string) string {
			return s[:strings.Index(s, "  - name: dealer")]
		}, want: Diff{Removed: []string{"dealer"}}},
		{name: "connector options (credentials, TLS)", edit: func(s string) string {
			return strings.Replace(s, `subject: "d.>"}}`, `subject: "d.>", user: x, password: y}}`, 1)
		}, want: Diff{Connector: []string{"dealer"}}},
		{name: "rate limit", edit: func(s string) string {
			return s + "    rate_limit: {per_second: 10, burst: 5}\n"
		}, want: Diff{Connector: []string{"dealer"}}},
		{name: "masking and allowed types", edit: func(s string) string {
			return s + "    allowed_types: [payment.received]\n    masking: {policies: [{types: [payment.received], fields: [{path: /payer/iban, action: last4}]}]}\n"
		}, want: Diff{Policy: []string{"dealer"}}},
		{name: "identity rule", edit: func(s string) string {
			return s + "    identity: {field: /partner}\n"
		}, want: Diff{Policy: []string{"dealer"}}},
		{name: "partner retry", edit: func(s string) string {
			return s + "    retry: {max_attempts: 3}\n"
		}, want: Diff{Forwarder: []string{"dealer"}}},
		{name: "global limits", edit: func(s string) string {
			return s + "limits: {max_depth: 10}\n"
		}, want: Diff{Global: []string{"limits"}}},
		{name: "store needs restart", edit: func(s string) string {
			return strings.Replace(s, "store_dir: /tmp/unused", "store_dir: /tmp/other", 1)
		}, want: Diff{Restart: []string{"jetstream"}}},
		{name: "erp and admin need restart", edit: func(s string) string {
			return strings.Replace(s, "subject: erp.events", "subject: erp.other", 1) + "admin: {listen: 127.0.0.1:9999}\n"
		}, want: Diff{Restart: []string{"erp", "admin"}}},
		{name: "log and shutdown need restart", edit: func(s string) string {
			return s + "log: {level: debug}\nshutdown_timeout: 5s\n"
		}, want: Diff{Restart: []string{"log", "shutdown_timeout"}}},
		{name: "mixed", edit: func(s string) string {
			s = strings.Replace(s, `subject: "b.>"}}`, `subject: "b2.>"}}`, 1)
			s = s[:strings.Index(s, "  - name: dealer")]
			return s + `  - name: shop
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "s.>"}}
`
		}, want: Diff{Added: []string{"shop"}, Removed: []string{"dealer"}, Connector: []string{"bank"}}},
	}
	old := parseDiffConfig(t, diffBase)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CompareConfigs(old, parseDiffConfig(t, tc.edit(diffBase)), tc.schemas)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("diff\n got %+v\nwant %+v", got, tc.want)
			}
			if got.Empty() != reflect.DeepEqual(tc.want, Diff{}) {
				t.Fatalf("Empty() = %v for %+v", got.Empty(), got)
			}
			if strings.Contains(got.String(), "password") || strings.Contains(got.String(), ": y") {
				t.Fatalf("summary shows a value: %s", got)
			}
		})
	}
}

func parseDiffConfig(t *testing.T, y string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, y)
	}
	return cfg
}
