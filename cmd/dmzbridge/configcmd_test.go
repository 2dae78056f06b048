package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), exitCode(err)
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigCheck(t *testing.T) {
	good := writeFile(t, "good.yaml", `environment: test
jetstream: {embedded: true, store_dir: /tmp/x}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - name: bank-a
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "bank.>"}}
    identity: {field: /partner, values: [P-0036]}
    limits: {max_depth: 16}
  - name: dealer-c
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "dealer.>"}}
  - name: carrier-d
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "carrier.>"}}
    identity: {field: /header/sender, required: true}
  - name: bank-e
    inbound: {type: amqp, options: {url: "amqp://rabbit:5672/", exchange: bank-e.events}}
`)
	relaxed := writeFile(t, "relaxed.yaml", `environment: test
jetstream: {embedded: true, store_dir: /tmp/x, durability: relaxed}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - name: bank-e
    inbound: {type: amqp, options: {url: "amqp://rabbit:5672/", exchange: bank-e.events}}
`)
	bad := writeFile(t, "bad.yaml", `environment: test
jetstream: {embedded: true}
erp: {type: carrier-pigeon}
partners:
  - name: bank-a
    inbound: {type: nats, options: {url: "nats://p:4222"}}
  - name: dealer-c
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "d.>", colour: blue}}
`)
	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"valid file", []string{"config", "check", good}, exitOK, []string{"good.yaml: ok", "durability fsync",
			`partner bank-a: identity /partner is one of "P-0036" when present; limits: depth 16, string 65536 B, number 100 B, name 256 B`,
			"partner dealer-c: payload not read (no allowed_types, no identity rule)",
			`partner carrier-d: identity /header/sender is one of "carrier-d" (required); limits: depth 64,`,
			// Group commit of 1000 under fsync: the window holds two batches.
			"partner bank-e: payload not read (no allowed_types, no identity rule); inbound: amqp prefetch 2000"}},
		{"relaxed keeps the small window", []string{"config", "check", relaxed}, exitOK, []string{
			"partner bank-e: payload not read (no allowed_types, no identity rule); inbound: amqp prefetch 256"}},
		{"a bad identity pointer is a field error", []string{"config", "check", writeFile(t, "badid.yaml", `environment: test
jetstream: {embedded: true, store_dir: /tmp/x}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - name: bank-a
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "bank.>"}}
    identity: {field: partner}
`)}, exitConfig, []string{"partners[0].identity.field:", "is not a JSON pointer"}},
		{"every error with its path", []string{"config", "check", bad}, exitConfig, []string{
			"bad.yaml: invalid",
			"partners[0].inbound.options.subject: required",
			"partners[1].inbound.options.colour: unknown field",
			`erp.type: unknown ERP sink "carrier-pigeon"`,
		}},
		{"missing file", []string{"config", "check", filepath.Join(t.TempDir(), "nope.yaml")}, exitConfig, []string{"no such file"}},
		{"no file given is a usage error", []string{"config", "check"}, exitUsage, nil},
		{"unknown flag is a usage error", []string{"config", "check", "--bogus", good}, exitUsage, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runCLI(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "environment: test\n")
	_, code := runCLI(t, "serve", "--config", bad)
	if code != exitConfig {
		t.Fatalf("serve with an invalid config exited %d, want %d", code, exitConfig)
	}
}
