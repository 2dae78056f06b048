package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed PEM certificate and its key into dir.
func writeCert(t *testing.T, dir, cn string, notAfter time.Time) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+"-key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// Five different mistakes, one an unknown top-level field: each must be
// reported, none hidden behind another.
func TestConfigCheckReportsEveryMistakeInOnePass(t *testing.T) {
	missingCA := filepath.Join(t.TempDir(), "absent-ca.pem")
	f := writeFile(t, "five.yaml", `environment: test
colour: blue
jetstream:
  url: nats://127.0.0.1:4222
  durability: fsync
  tls: {ca: `+missingCA+`}
forward:
  ack_wait: 30 seconds
erp:
  type: mqtt
partners:
  - name: bank-a
    inbound:
      type: nats
      options: {url: "nats://127.0.0.1:4222", subjekt: "bank.>"}
`)
	out, code := runCLI(t, "config", "check", f)
	if code != exitConfig {
		t.Fatalf("exit code %d, want %d:\n%s", code, exitConfig, out)
	}
	for _, want := range []string{
		"five.yaml: invalid (5 problems)",
		"colour: unknown field",
		"forward.ack_wait: `30 seconds` is not a duration: use a duration such as 30s",
		`erp.type: unknown ERP sink "mqtt"`,
		"partners[0].inbound.options.subjekt: unknown field (did you mean subject?)",
		"jetstream.tls.ca: " + missingCA + ": no such file or directory",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func TestConfigCheckFilesAndCertificates(t *testing.T) {
	dir := t.TempDir()
	goodCert, goodKey := writeCert(t, dir, "bridge", time.Now().Add(400*24*time.Hour))
	oldCert, _ := writeCert(t, dir, "old-ca", time.Now().Add(-24*time.Hour))
	_, otherKey := writeCert(t, dir, "other", time.Now().Add(400*24*time.Hour))
	notPEM := filepath.Join(dir, "notpem.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := `environment: test
jetstream:
  url: nats://127.0.0.1:4222
  durability: fsync
  %TLS%
erp: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: erp.events}}
partners:
  - name: bank-a
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "bank.>"}}
`
	cases := []struct {
		name     string
		tls      string
		wantCode int
		want     []string
	}{
		{"valid mutual TLS shows expiry", "tls: {ca: " + goodCert + ", cert: " + goodCert + ", key: " + goodKey + "}", exitOK,
			[]string{"ok (", `note: jetstream.tls.ca: certificate "bridge" expires on`, "(in 399 days)"}},
		{"expired CA", "tls: {ca: " + oldCert + "}", exitConfig, []string{`jetstream.tls.ca: certificate "old-ca" expired on`}},
		{"CA not PEM", "tls: {ca: " + notPEM + "}", exitConfig, []string{"jetstream.tls.ca: " + notPEM + " holds no PEM certificate"}},
		{"key of another certificate", "tls: {cert: " + goodCert + ", key: " + otherKey + "}", exitConfig, []string{"jetstream.tls.key: does not go with cert"}},
		{"missing credentials", "credentials: " + filepath.Join(dir, "nope.creds"), exitConfig, []string{"jetstream.credentials: " + filepath.Join(dir, "nope.creds") + ": no such file or directory"}},
		{"credentials is a directory", "credentials: " + dir, exitConfig, []string{"is a directory, not a file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, "c.yaml", strings.Replace(base, "%TLS%", tc.tls, 1))
			out, code := runCLI(t, "config", "check", f)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d:\n%s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestConfigCheckPrintRedactsSecrets(t *testing.T) {
	t.Setenv("H4_TEST_SECRET", "s3cr3t-value")
	f := writeFile(t, "p.yaml", `environment: test
jetstream: {url: "nats://bridge:${H4_TEST_SECRET}@127.0.0.1:4222", durability: fsync, password: "${H4_TEST_SECRET}"}
erp: {type: amqp, options: {url: "amqp://erp:${H4_TEST_SECRET}@127.0.0.1:5672/", exchange: erp.events}}
partners:
  - name: bank-a
    inbound: {type: nats, options: {url: "nats://127.0.0.1:4222", subject: "bank.>", password: "${H4_TEST_SECRET}"}}
`)
	out, code := runCLI(t, "config", "check", "--print", f)
	if code != exitOK {
		t.Fatalf("exit code %d:\n%s", code, out)
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("a secret is printed:\n%s", out)
	}
	for _, want := range []string{
		"# effective configuration of",
		"ack_wait: 30s",                         // a default filled in
		"purge_interval: 1s",                    // another
		"password: REDACTED",                    // a password field
		"nats://bridge:REDACTED@127.0.0.1:4222", // a URL's password
		"amqp://erp:REDACTED@127.0.0.1:5672/",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The same problem gives serve and config check the same exit code.
func TestServeAndCheckShareExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	dir := t.TempDir()
	badTLS := writeFile(t, "tls.yaml", `environment: test
jetstream: {url: "nats://127.0.0.1:1", durability: fsync, tls: {ca: `+filepath.Join(dir, "ca.pem")+`}}
erp: {type: nats, options: {url: "nats://127.0.0.1:1", subject: erp.events}}
partners:
  - name: bank-a
    inbound: {type: nats, options: {url: "nats://127.0.0.1:1", subject: "bank.>"}}
`)
	for _, f := range []string{missing, badTLS} {
		_, check := runCLI(t, "config", "check", f)
		out, serve := runCLI(t, "serve", "--config", f)
		if check != exitConfig || serve != exitConfig {
			t.Errorf("%s: config check exited %d, serve %d; want %d for both (serve said %s)", filepath.Base(f), check, serve, exitConfig, out)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, code := runCLI(t, args...)
		if code != exitOK {
			t.Fatalf("%v exited %d: %s", args, code, out)
		}
		// A test binary carries no VCS stamp, so only the shape is checked
		// here; the integration test checks the revision of a real build.
		if !regexp.MustCompile(`^dmzbridge \S+\n  revision  .+\n(.|\n)*  go        go1\.`).MatchString(out) {
			t.Errorf("%v printed %q", args, out)
		}
	}
}

// Unknown filter values are usage errors naming the valid ones, checked
// before anything connects (no server is running here).
func TestFilterValuesAreChecked(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"dlq", "list", "--server", "nats://127.0.0.1:1", "--reason", "nosuchreason"}, `--reason "nosuchreason" is not a reason code; valid: malformed, too_large`},
		{[]string{"dlq", "stats", "--server", "nats://127.0.0.1:1", "--reason", "schema_invalid,bogus"}, `--reason "bogus"`},
		{[]string{"dlq", "replay", "--server", "nats://127.0.0.1:1", "--type", "order.creatd"}, `--type "order.creatd" is not a known event type; valid: invoice.issued, order.created, payment.received, shipment.dispatched`},
		{[]string{"audit", "--server", "nats://127.0.0.1:1", "--action", "deleted"}, `--action "deleted" is not an audit action; valid: received, forwarded, dead_lettered`},
	}
	for _, tc := range cases {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(tc.args)
		err := root.Execute()
		if code := exitCode(err); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (usage):\n%s", tc.args, code, exitUsage, out.String())
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v lacks %q", tc.args, err, tc.want)
		}
	}
}

// Every command that reaches JetStream takes the same connection flags.
func TestConnectionFlagsShared(t *testing.T) {
	root := newRoot()
	for _, path := range [][]string{{"dlq", "list"}, {"dlq", "show"}, {"dlq", "stats"}, {"dlq", "replay"}, {"dlq", "purge"}, {"audit"}} {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"config", "server", "creds", "user", "password", "prefix", "timeout"} {
			if cmd.Flags().Lookup(name) == nil && cmd.InheritedFlags().Lookup(name) == nil {
				t.Errorf("%v has no --%s", path, name)
			}
		}
	}
}

// demo --keep leaves a store the printed dlq command can read.
func TestDemoKeepLeavesStoreForDlq(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded JetStream")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	out, code := runCLI(t, "demo", "--events", "20", "--keep", dir)
	if code != exitOK {
		t.Fatalf("demo exited %d:\n%s", code, out)
	}
	cfgPath := filepath.Join(dir, "dmzbridge.yaml")
	if !strings.Contains(out, "dmzbridge dlq list --config "+cfgPath) {
		t.Fatalf("demo does not print the dlq command with its store:\n%s", out)
	}
	list, code := runCLI(t, "dlq", "list", "--config", cfgPath, "--json")
	if code != exitOK {
		t.Fatalf("dlq list on the kept store exited %d:\n%s", code, list)
	}
	m := regexp.MustCompile(`(\d+) left in the dead-letter stream`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo summary lacks the count left:\n%s", out)
	}
	if n := strings.Count(list, `"reason"`); fmt.Sprint(n) != m[1] || n == 0 {
		t.Errorf("dlq list found %d entries in the kept store, the demo said %s:\n%s", n, m[1], list)
	}
	if _, code := runCLI(t, "demo", "--events", "20", "--keep", dir); code != exitUsage {
		t.Errorf("demo --keep on a non-empty directory exited %d, want %d", code, exitUsage)
	}
}
