package integration_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// requirePromtool returns promtool's path. Like a missing broker, a
// missing promtool fails under CI and skips elsewhere.
func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		msg := "promtool is not installed (Debian package prometheus); run deploy/dev/brokers.sh"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// selfSignedPEM writes a certificate expiring at notAfter to a file.
func selfSignedPEM(t *testing.T, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "partner-ca"},
		NotBefore: notAfter.Add(-24 * time.Hour), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// metricName matches the names of the series the rules and dashboards
// read: the bridge's own, the Go runtime's and the process's.
var metricName = regexp.MustCompile(`\b(?:dmzbridge|process|go)_[a-z0-9_]+\b`)

// TestLiveMetrics runs traffic through a bridge on embedded JetStream (valid
// events, schema-invalid ones, and forwards the ERP refuses until its stream
// exists) and then reads its live /metrics: promtool check metrics accepts
// them; every metric named in the alert rules and the Grafana dashboards is
// there; every series says which environment it comes from; received counts
// carry the real event type; and the store, runtime and process gauges exist.
func TestLiveMetrics(t *testing.T) {
	promtool := requirePromtool(t)
	schemasDir, err := filepath.Abs(filepath.Join("..", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	partner := startNATS(t, "")
	_, pjs := partner.js(t)
	createStream(t, pjs, "MET_PARTNERS", "metbank.>")
	// The ERP has no stream yet: forwards fail and are retried until it does.
	erpSrv := startNATS(t, "")
	_, ejs := erpSrv.js(t)
	erpYAML := fmt.Sprintf("type: nats\noptions:\n  url: %s\n  subject: erp.events.{partner}\n  jetstream: true\n", erpSrv.url())
	// A partner whose link cannot come up (it asks for TLS of a server
	// without it) but whose certificate is read: connector_up 0 and the
	// certificate expiry series exist.
	caFile := selfSignedPEM(t, time.Now().Add(10*24*time.Hour))
	yaml := strings.Replace(bridgeYAML(filepath.Join(t.TempDir(), "js"), bridgetest.FreePort(t), erpYAML,
		fmt.Sprintf(`  - name: bank-a
    inbound:
      type: nats
      options: {url: %s, subject: "metbank.>", stream: MET_PARTNERS, durable: met-bank}
    allowed_types: [payment.received]
    rate_limit: {per_second: 100, burst: 1}`, partner.url()),
		fmt.Sprintf(`  - name: tls-partner
    inbound:
      type: nats
      options:
        url: %s
        subject: "mettls.>"
        tls: {ca: %s}
    allowed_types: [order.created]`, partner.url(), caFile),
	)+"schemas_dir: "+schemasDir+"\n",
		"jetstream:\n", "jetstream:\n  ingest: {max_bytes: 104857600}\n  dead_letter: {max_bytes: 10485760}\n", 1)
	rb := startBridge(t, yaml, app.Options{})
	base := rb.b.AdminURL()
	if base == "" {
		t.Fatal("admin listener not started")
	}

	const valid, invalid = 12, 3
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publish := func(id, body string) {
		m := nats.NewMsg("metbank.in")
		m.Header.Set(nats.MsgIdHdr, id)
		m.Header.Set("Event-Type", "payment.received")
		m.Data = []byte(body)
		if _, err := pjs.PublishMsg(ctx, m); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
	for i := range valid {
		publish(fmt.Sprintf("met-%02d", i), valPayment(i, "DE89370400440532013000", fmt.Sprintf("p%d@acme.example", i)))
	}
	for i := range invalid {
		publish(fmt.Sprintf("met-bad-%02d", i), strings.Replace(valPayment(100+i, "DE89370400440532013000", "x@y.example"), `"currency":"EUR"`, `"currency":"euro"`, 1))
	}
	eventually(t, 30*time.Second, "forwards retried while the ERP has no stream", func() (bool, string) {
		_, body := httpGet(t, base+"/metrics")
		n := metricSum(body, "dmzbridge_messages_retried_total", map[string]string{"partner": "bank-a"})
		return n >= 1, fmt.Sprintf("retried %v", n)
	})
	if _, err := ejs.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "MET_ERP", Subjects: []string{"erp.>"}}); err != nil {
		t.Fatal(err)
	}
	var body string
	eventually(t, 60*time.Second, "every valid event forwarded and the gauges settled", func() (bool, string) {
		_, body = httpGet(t, base+"/metrics")
		fwd := metricSum(body, "dmzbridge_messages_forwarded_total", map[string]string{"partner": "bank-a"})
		backlog := metricSum(body, "dmzbridge_ingest_backlog", map[string]string{"partner": "bank-a"})
		dl := metricSum(body, "dmzbridge_dead_letter_depth", map[string]string{"partner": "bank-a"})
		return fwd == valid && backlog == 0 && dl == invalid, fmt.Sprintf("forwarded %v, backlog %v, dead letters %v", fwd, backlog, dl)
	})

	// promtool lints the exposition as Prometheus would read it.
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("promtool: %v", err)
		}
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}

	exported := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		exported[name] = true
		if !strings.Contains(line, `environment="test"`) {
			t.Errorf("series without environment=\"test\": %s", line)
		}
	}

	// Every metric the alert rules and the dashboards read is exported.
	// `up` is Prometheus's own, not the bridge's.
	files := []string{filepath.Join("..", "deploy", "prometheus", "alerts.yml")}
	for _, pattern := range []string{"../deploy/grafana/*.json", "../deploy/compose/grafana/*/*.json", "../deploy/compose/grafana/*/*/*.json"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 2 {
		t.Fatalf("no dashboard found: %v", files)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, n := range metricName.FindAllString(string(raw), -1) {
			names[n] = true
		}
		if len(names) == 0 {
			t.Errorf("%s names no metric", f)
		}
		var missing []string
		for n := range names {
			if !exported[n] {
				missing = append(missing, n)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s reads metrics the bridge does not export: %v", f, missing)
		}
	}

	checks := []struct {
		name   string
		labels map[string]string
		want   func(float64) bool
		what   string
	}{
		{"dmzbridge_messages_received_total", map[string]string{"partner": "bank-a", "event_type": "payment.received"}, eq(valid + invalid), "every event with its type"},
		{"dmzbridge_messages_received_total", map[string]string{"event_type": "unknown"}, eq(0), "no unknown type"},
		{"target_info", map[string]string{"service_name": "dmzbridge"}, eq(1), "the service named"},
		{"dmzbridge_jetstream_stream_limit_bytes", map[string]string{"stream": rb.b.Topology().IngestStream()}, eq(104857600), "ingest max_bytes"},
		{"dmzbridge_jetstream_stream_limit_bytes", map[string]string{"stream": rb.b.Topology().DeadLetterStream()}, eq(10485760), "dead-letter max_bytes"},
		{"dmzbridge_jetstream_stream_used_bytes", map[string]string{"stream": rb.b.Topology().DeadLetterStream()}, gt(0), "dead letters stored"},
		{"dmzbridge_jetstream_account_used_bytes", nil, gt(0), "account storage"},
		// The embedded server's account has no limit of its own: the
		// server's storage cap stands in.
		{"dmzbridge_jetstream_account_limit_bytes", nil, gt(0), "the embedded server's storage cap"},
		{"dmzbridge_intake_throttled_total", map[string]string{"partner": "bank-a"}, gt(0), "bank-a's burst throttled"},
		{"dmzbridge_ingest_oldest_age_seconds", map[string]string{"partner": "bank-a"}, eq(0), "nothing waits"},
		{"dmzbridge_connector_up", map[string]string{"partner": "tls-partner", "role": "inbound"}, eq(0), "the TLS partner down"},
		{"dmzbridge_connector_up", map[string]string{"partner": "bank-a", "role": "inbound"}, eq(1), "bank-a up"},
		{"dmzbridge_certificate_expiry_timestamp_seconds", map[string]string{"owner": "partner:tls-partner"}, gt(float64(time.Now().Unix())), "the partner's CA"},
		{"go_goroutines", nil, gt(0), "goroutines"},
		{"process_open_fds", nil, gt(0), "file descriptors"},
		{"process_resident_memory_bytes", nil, gt(0), "memory"},
	}
	for _, c := range checks {
		if got := metricSum(body, c.name, c.labels); !c.want(got) {
			t.Errorf("%s%v = %v: want %s", c.name, c.labels, got, c.what)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
func gt(min float64) func(float64) bool  { return func(v float64) bool { return v > min } }
