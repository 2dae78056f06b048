package config

import (
	"strings"
	"testing"
)

const validBase = `environment: test
jetstream:
  embedded: true
  store_dir: /tmp/x
erp:
  type: nats
  options:
    url: nats://erp:4222
    subject: erp.events
partners:
  - name: bank-a
    inbound:
      type: nats
      options: {url: "nats://p:4222", subject: "bank.>"}
`

func TestParseValid(t *testing.T) {
	cfg, err := Parse([]byte(validBase))
	if err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"durability defaults to fsync when embedded", cfg.JetStream.Durability, DurabilityFsync},
		{"replicas default", cfg.JetStream.Replicas, 1},
		{"partner inherits environment", cfg.Partners[0].Environment, "test"},
		{"erp inherits environment", cfg.ERP.Environment, "test"},
		{"erp type", cfg.ERP.Sink.Type, "nats"},
		{"admin loopback default", cfg.Admin.Listen, "127.0.0.1:9180"},
		{"dead letter retention 7 days", cfg.JetStream.DeadLetter.MaxAge.Hours(), 168.0},
		{"one batch in flight on a single server", cfg.JetStream.Batch.InFlight, 1},
		{"forward purge every second", cfg.Forward.PurgeInterval.Seconds(), 1.0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	repl, err := Parse([]byte(strings.Replace(validBase, "  embedded: true\n  store_dir: /tmp/x", "  url: nats://a:4222,nats://b:4222,nats://c:4222", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if n := repl.JetStream.Batch.InFlight; n != 4 {
		t.Errorf("replicated: %d batches in flight, want 4 (pipelined through Raft)", n)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name string
		edit func(string) string
		want string
	}{
		{"unknown top-level field", func(s string) string { return s + "bogus: 1\n" }, "bogus: unknown field"},
		{"unknown nested field", func(s string) string {
			return strings.Replace(s, "  store_dir: /tmp/x", "  store_dir: /tmp/x\n  stor_dir: y", 1)
		}, "jetstream.stor_dir: unknown field"},
		{"unknown partner field", func(s string) string {
			return strings.Replace(s, "  - name: bank-a", "  - name: bank-a\n    nmae: x", 1)
		}, "partners[0].nmae: unknown field"},
		{"missing environment", func(s string) string { return strings.Replace(s, "environment: test\n", "", 1) }, "environment: required"},
		{"prod without a sealing key", func(s string) string { return strings.Replace(s, "environment: test\n", "environment: prod\n", 1) }, "dead_letter.seal_key_env: required with environment: prod"},
		{"sealing key from env and file", func(s string) string {
			return s + "dead_letter: {seal_key_env: K, seal_key_file: /k}\n"
		}, "dead_letter.seal_key_file: set either seal_key_env or seal_key_file, not both"},
		{"old keys without a current one", func(s string) string {
			return s + "dead_letter: {old_keys: [{seal_key_env: OLD}]}\n"
		}, "dead_letter.old_keys: need a current key"},
		{"old key without a source", func(s string) string {
			return s + "dead_letter: {seal_key_env: K, old_keys: [{}]}\n"
		}, "dead_letter.old_keys[0]: set seal_key_env or seal_key_file"},
		{"missing erp type", func(s string) string {
			return strings.Replace(s, "  type: nats\n  options:\n    url: nats://erp", "  options:\n    url: nats://erp", 1)
		}, "erp.type: required"},
		{"partner name required", func(s string) string { return strings.Replace(s, "name: bank-a", "name: \"\"", 1) }, "partners[0].name: required"},
		{"partner name syntax", func(s string) string { return strings.Replace(s, "name: bank-a", "name: Bank A", 1) }, "partners[0].name: \"Bank A\" must be lowercase"},
		{"duplicate partner", func(s string) string {
			return s + "  - name: bank-a\n    inbound: {type: nats}\n"
		}, "partners[1].name: \"bank-a\" already used by partners[0]"},
		{"environments never mix", func(s string) string {
			return strings.Replace(s, "  - name: bank-a", "  - name: bank-a\n    environment: prod", 1)
		}, "partners[0].environment: is \"prod\" but the bridge serves \"test\""},
		{"erp environment mismatch", func(s string) string {
			return strings.Replace(s, "erp:\n", "erp:\n  environment: prod\n", 1)
		}, "erp.environment: is \"prod\""},
		{"jetstream environment mismatch", func(s string) string {
			return strings.Replace(s, "  embedded: true", "  embedded: true\n  environment: prod", 1)
		}, "jetstream.environment: is \"prod\" but the bridge serves \"test\""},
		{"purge interval too short", func(s string) string {
			return s + "forward:\n  purge_interval: 1ms\n"
		}, "forward.purge_interval: 1ms is outside 10ms..1h"},
		{"bad durability", func(s string) string {
			return strings.Replace(s, "  embedded: true", "  embedded: true\n  durability: maybe", 1)
		}, "jetstream.durability: \"maybe\" is not one of"},
		{"replicated needs cluster", func(s string) string {
			return strings.Replace(s, "  embedded: true", "  embedded: true\n  durability: replicated", 1)
		}, "jetstream.durability: replicated needs a JetStream cluster"},
		{"embedded and url", func(s string) string {
			return strings.Replace(s, "  embedded: true", "  embedded: true\n  url: nats://x", 1)
		}, "jetstream.url: set either embedded"},
		{"type error located", func(s string) string {
			return strings.Replace(s, "  embedded: true", "  embedded: true\n  max_pending: lots", 1)
		}, "jetstream.max_pending: `lots` is not a whole number"},
		{"bad duration located", func(s string) string {
			return s + "forward:\n  ack_wait: soon\n"
		}, "forward.ack_wait:"},
		{"tls cert without key", func(s string) string {
			return strings.Replace(s, "  store_dir: /tmp/x", "  store_dir: /tmp/x\n  tls: {cert: a.pem}", 1)
		}, "jetstream.tls.cert: cert and key must be given together"},
		{"unset env var", func(s string) string {
			return strings.Replace(s, "store_dir: /tmp/x", "store_dir: ${DMZ_TEST_SURELY_UNSET}", 1)
		}, "jetstream.store_dir: environment variable DMZ_TEST_SURELY_UNSET is not set"},
		{"no partners", func(s string) string { return s[:strings.Index(s, "partners:")] }, "partners: at least one partner is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.edit(validBase)))
			if err == nil {
				t.Fatalf("accepted; want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("DMZ_TEST_DIR", "/var/lib/dmz")
	t.Setenv("DMZ_TEST_PENDING", "512")
	t.Setenv("DMZ_TEST_TRICKY", "a: b\nc: [d")
	src := strings.Replace(validBase, "store_dir: /tmp/x", "store_dir: ${DMZ_TEST_DIR}/js\n  max_pending: ${DMZ_TEST_PENDING}\n  password: ${DMZ_TEST_TRICKY}\n  user: ${DMZ_TEST_USER:-bridge}", 1)
	cfg, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JetStream.StoreDir != "/var/lib/dmz/js" {
		t.Errorf("store_dir = %q", cfg.JetStream.StoreDir)
	}
	if cfg.JetStream.MaxPending != 512 {
		t.Errorf("max_pending = %d; an expanded number must fill an int field", cfg.JetStream.MaxPending)
	}
	if cfg.JetStream.Password != "a: b\nc: [d" {
		t.Errorf("a secret with YAML syntax must stay a literal value, got %q", cfg.JetStream.Password)
	}
	if cfg.JetStream.User != "bridge" {
		t.Errorf("default not applied: %q", cfg.JetStream.User)
	}
}

func TestEveryErrorReported(t *testing.T) {
	src := strings.Replace(validBase, "environment: test\n", "", 1) + "bogus: 1\n"
	_, err := Parse([]byte(src))
	fe, ok := err.(FieldErrors)
	if !ok {
		t.Fatalf("want FieldErrors, got %T %v", err, err)
	}
	if len(fe) < 2 {
		t.Fatalf("want both problems reported at once, got %v", fe)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(validBase))
	f.Add([]byte("environment: [\n"))
	f.Add([]byte("partners: {a: b}\n"))
	f.Add([]byte("jetstream: ${X:-}\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Parse(raw)
		if err == nil && cfg.Environment == "" {
			t.Fatal("accepted a config without environment")
		}
	})
}

// TestProdWithSealingKey: prod accepts a config that names a sealing key;
// test runs without one (the bridge warns at startup).
func TestProdWithSealingKey(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		sealed    bool
	}{
		{"test without key", validBase, false},
		{"prod with env key", strings.Replace(validBase, "environment: test\n", "environment: prod\n", 1) + "dead_letter: {seal_key_env: DMZ_DLQ_SEAL_KEY}\n", true},
		{"prod with file key and an old one", strings.Replace(validBase, "environment: test\n", "environment: prod\n", 1) +
			"dead_letter: {seal_key_file: /k/new, old_keys: [{seal_key_file: /k/old}]}\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DeadLetter.Sealed() != tc.sealed {
				t.Fatalf("sealed %v, want %v", cfg.DeadLetter.Sealed(), tc.sealed)
			}
		})
	}
}
