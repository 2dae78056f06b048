package telemetry

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge/config"
)

// TestReadCertExpiry: a file's expiry is its earliest certificate's
// NotAfter (a chain expires with its first link); a file that cannot be
// read or holds no certificate reports why instead of a time.
func TestReadCertExpiry(t *testing.T) {
	soon := time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC)
	late := soon.Add(300 * 24 * time.Hour)
	chain := append(certPEM(t, "leaf", late), certPEM(t, "intermediate", soon)...)
	// A key block in the same file is skipped, not parsed as a certificate.
	withKey := append([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), certPEM(t, "only", late)...)

	cases := []struct {
		name    string
		file    string
		want    time.Time
		wantErr string
	}{
		{"earliest of a chain", writeTemp(t, "chain.pem", chain), soon, ""},
		{"key blocks skipped", writeTemp(t, "withkey.pem", withKey), late, ""},
		{"missing file", filepath.Join(t.TempDir(), "absent.pem"), time.Time{}, "no such file"},
		{"not PEM", writeTemp(t, "junk.pem", []byte("hello")), time.Time{}, "no PEM certificate"},
		{"broken certificate", writeTemp(t, "broken.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
			time.Time{}, "parse certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ce := ReadCertExpiry(CertFile{Owner: "partner:bank-a", File: c.file})
			if ce.Owner != "partner:bank-a" || ce.File != c.file {
				t.Fatalf("owner/file not kept: %+v", ce)
			}
			if c.wantErr != "" {
				if !strings.Contains(ce.Err, c.wantErr) || !ce.NotAfter.IsZero() {
					t.Fatalf("got %+v, want error containing %q and no time", ce, c.wantErr)
				}
				return
			}
			if ce.Err != "" || !ce.NotAfter.Equal(c.want) {
				t.Fatalf("got %+v, want NotAfter %v", ce, c.want)
			}
		})
	}
}

// TestConfigCertFiles: certificate files are found in the JetStream TLS
// block and in any "tls" block of any connector's options, nested or not;
// keys are never listed, and a "cert" outside a tls block is not a file.
func TestConfigCertFiles(t *testing.T) {
	doc := `environment: test
jetstream:
  url: nats://js:4222
  tls: {ca: /pki/js-ca.pem, cert: /pki/js.pem, key: /pki/js.key}
erp:
  type: nats
  options: {url: "nats://erp:4222", subject: erp.events, tls: {ca: /pki/erp-ca.pem}}
partners:
  - name: bank-a
    inbound:
      type: kafka
      options:
        brokers: [k:9093]
        cert: not-a-file-outside-tls
        sasl: {tls: {ca_file: /pki/bank-ca.pem, cert_file: /pki/bank.pem, key_file: /pki/bank.key}}
  - name: dealer
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "d.>"}}
`
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := ConfigCertFiles(cfg)
	want := []CertFile{
		{"jetstream", "/pki/js-ca.pem"}, {"jetstream", "/pki/js.pem"},
		{"erp", "/pki/erp-ca.pem"},
		{"partner:bank-a", "/pki/bank-ca.pem"}, {"partner:bank-a", "/pki/bank.pem"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

// TestCertExpiryGauge: every certificate has an expiry series labelled by
// owner and file; an unreadable one reports 0, so an expiry alert fires
// for it (its error is listed in /status).
func TestCertExpiryGauge(t *testing.T) {
	at := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	good := writeTemp(t, "good.pem", certPEM(t, "good", at))
	bad := filepath.Join(t.TempDir(), "absent.pem")
	m := newMetrics(t)
	m.SetGauges(Gauges{Certificates: []CertExpiry{
		ReadCertExpiry(CertFile{Owner: "erp", File: good}),
		ReadCertExpiry(CertFile{Owner: "partner:bank-a", File: bad}),
	}})
	v, ok := value(t, m, "dmzbridge_certificate_expiry_timestamp_seconds", map[string]string{"owner": "erp", "file": good})
	if !ok || v != float64(at.Unix()) {
		t.Fatalf("expiry of %s: %v (present %v), want %d", good, v, ok, at.Unix())
	}
	if v, ok := value(t, m, "dmzbridge_certificate_expiry_timestamp_seconds", map[string]string{"file": bad}); !ok || v != 0 {
		t.Fatalf("unreadable certificate: %v (present %v), want a series at 0", v, ok)
	}
}
