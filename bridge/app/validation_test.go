package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

const checkYAML = `environment: test
jetstream: {embedded: true, store_dir: /tmp/unused}
schemas_dir: %SCHEMAS%
erp: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: erp.events}}
partners:
  - name: bank-a
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "bank.>"}}
    allowed_types: [payment.received, payment.refunded]
    masking:
      hash_key_env: APP_TEST_MASK_KEY
      policies:
        - fields:
            - {path: "payer..email", action: hash}
  - name: open
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "open.>"}}
`

func TestCheckReportsSchemaAndMaskingErrors(t *testing.T) {
	dir := t.TempDir()
	bad := `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"amount":{"exclusiveMinimum":"zero"}}}`
	if err := os.WriteFile(filepath.Join(dir, "payment.received.v1.json"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(strings.ReplaceAll(checkYAML, "%SCHEMAS%", dir)))
	if err != nil {
		t.Fatal(err)
	}
	err = Check(cfg, testRegistry())
	if err == nil {
		t.Fatal("config check passed")
	}
	for _, want := range []string{
		"schemas_dir: " + dir + "/payment.received.v1.json#/properties/amount/exclusiveMinimum: expected number",
		`partners[0].masking.policies[0].fields[0].path: "payer..email"`,
		"partners[0].masking.hash_key_env: environment variable APP_TEST_MASK_KEY is not set",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("check output lacks %q:\n%v", want, err)
		}
	}
}

func TestCheckAcceptsShippedSchemas(t *testing.T) {
	t.Setenv("APP_TEST_MASK_KEY", "0123456789abcdef-key")
	yaml := strings.ReplaceAll(checkYAML, "%SCHEMAS%", filepath.Join("..", "..", "schemas"))
	yaml = strings.Replace(yaml, "payer..email", "payer.email", 1)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	err = Check(cfg, testRegistry())
	if err == nil || !strings.Contains(err.Error(), `partners[0].allowed_types[1]: "payment.refunded" has no schema`) {
		t.Fatalf("want only the unknown allowed type reported, got %v", err)
	}
	cfg.Partners[0].AllowedTypes = cfg.Partners[0].AllowedTypes[:1]
	if err := Check(cfg, testRegistry()); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
}

func TestConfigRejectsBadPartnerChecks(t *testing.T) {
	yaml := strings.ReplaceAll(checkYAML, "%SCHEMAS%", "schemas")
	yaml = strings.Replace(yaml, "    allowed_types:", "    event_type: {header: T, json_field: /type}\n    max_message_bytes: -1\n    allowed_types:", 1)
	yaml = strings.Replace(yaml, "action: hash", "action: blur", 1)
	_, err := config.Parse([]byte(yaml))
	for _, want := range []string{
		"partners[0].event_type: set only one of header, json_field, subject_from_token",
		"partners[0].max_message_bytes: must not be negative",
		`partners[0].masking.policies[0].fields[0].action: "blur" is not one of`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config error lacks %q:\n%v", want, err)
		}
	}
}

// testRegistry stands in for the connectors: bridge's tests import none, so
// a stub "nats" type accepts any options; Check's own rules are under test.
func testRegistry() *bridge.Registry {
	r := bridge.NewRegistry()
	r.RegisterSource("nats", func(*yaml.Node, bridge.SourceSpec) (bridge.Source, error) { return nil, nil })
	r.RegisterSink("nats", func(*yaml.Node, bridge.SinkSpec) (bridge.Sink, error) { return nil, nil })
	return r
}
