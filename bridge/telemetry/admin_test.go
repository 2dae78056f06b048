package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
)

var statusAt = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// adminWithGauges is an Admin over metrics holding two partners, the ERP
// sink and four certificates: bank-a has two (the nearer one counts) and
// one that cannot be read (which must not count), dealer has none.
func adminWithGauges(t *testing.T, erpErr error) *Admin {
	m := newMetrics(t)
	m.SetDurability(config.DurabilityReplicated)
	m.SetGauges(Gauges{
		At:          statusAt,
		Backlog:     map[string]int64{"bank-a": 12, "dealer": 0},
		DeadLetters: map[string]int64{"bank-a": 5, "dealer": 1},
		Rate:        map[string]float64{"bank-a": 42.5},
		Connectors: []ConnectorState{
			{Partner: "dealer", Role: "inbound", Connector: "amqp", State: bridge.StateDown},
			{Partner: "bank-a", Role: "inbound", Connector: "nats", State: bridge.StateUp},
			{Role: "erp", Connector: "nats", State: bridge.StateUp},
			{Partner: "bank-a", Role: RoleForwarder, Connector: "jetstream", State: bridge.StateUp},
			{Partner: "dealer", Role: RoleForwarder, Connector: "jetstream", State: bridge.StateDown},
		},
		Certificates: []CertExpiry{
			{Owner: "partner:bank-a", File: "/pki/bank-a.pem", NotAfter: statusAt.Add(90 * 24 * time.Hour)},
			{Owner: "partner:bank-a", File: "/pki/bank-a-ca.pem", NotAfter: statusAt.Add(10 * 24 * time.Hour)},
			{Owner: "partner:bank-a", File: "/pki/gone.pem", Err: "open /pki/gone.pem: no such file or directory"},
			{Owner: "erp", File: "/pki/erp.pem", NotAfter: statusAt.Add(24 * time.Hour)},
		},
	})
	return &Admin{Metrics: m, Checks: []Check{
		{Name: "jetstream", Fn: func(context.Context) error { return nil }},
		{Name: "erp", Fn: func(context.Context) error { return erpErr }},
	}}
}

// TestStatusReport: one row per partner, sorted, with its own rate,
// backlog, dead letters and nearest readable certificate (not the ERP's);
// the ERP sink separately; each partner's forwarder state in its row; the
// durability mode and readiness included.
func TestStatusReport(t *testing.T) {
	st := adminWithGauges(t, nil).StatusReport(context.Background())
	if !st.At.Equal(statusAt) || st.Durability != config.DurabilityReplicated || !st.Ready.Ready {
		t.Fatalf("header: at %v durability %q ready %v", st.At, st.Durability, st.Ready.Ready)
	}
	if len(st.Partners) != 2 {
		t.Fatalf("partners: %+v", st.Partners)
	}
	bank, dealer := st.Partners[0], st.Partners[1]
	if bank.Partner != "bank-a" || bank.Connector != "nats" || bank.State != bridge.StateUp ||
		bank.Rate != 42.5 || bank.Backlog != 12 || bank.DeadLetters != 5 || bank.Forwarder != bridge.StateUp {
		t.Errorf("bank-a: %+v", bank)
	}
	if bank.CertExpiry == nil || !bank.CertExpiry.Equal(statusAt.Add(10*24*time.Hour)) {
		t.Errorf("bank-a nearest certificate: %v, want the CA's", bank.CertExpiry)
	}
	if dealer.Partner != "dealer" || dealer.State != bridge.StateDown || dealer.DeadLetters != 1 || dealer.CertExpiry != nil ||
		dealer.Forwarder != bridge.StateDown {
		t.Errorf("dealer: %+v", dealer)
	}
	if len(st.ERP) != 1 || st.ERP[0].Role != "erp" || st.ERP[0].State != bridge.StateUp {
		t.Errorf("erp: %+v", st.ERP)
	}
	if len(st.Certs) != 4 {
		t.Errorf("certificates: %+v", st.Certs)
	}
}

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestAdminEndpoints: the listener's endpoints over HTTP. /readyz turns
// 503 when the ERP sink is not ready, but a partner that is down does not
// make the bridge unready; /status carries the durability mode.
func TestAdminEndpoints(t *testing.T) {
	srv := httptest.NewServer(adminWithGauges(t, nil).Handler())
	defer srv.Close()
	if code, body := get(t, srv, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := get(t, srv, "/readyz")
	var rd Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil || code != 200 || !rd.Ready || rd.Checks["erp"] != "ok" || len(rd.Connectors) != 5 {
		t.Errorf("/readyz with dealer down: %d %s (%v)", code, body, err)
	}
	code, body = get(t, srv, "/status")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("/status: %d %s (%v)", code, body, err)
	}
	if st.Durability != "replicated" || len(st.Partners) != 2 || !strings.Contains(body, `"durability": "replicated"`) {
		t.Errorf("/status: %s", body)
	}
	if code, body := get(t, srv, "/metrics"); code != 200 || !strings.Contains(body, `dmzbridge_durability_level{mode="replicated"} 2`) {
		t.Errorf("/metrics: %d, no durability gauge in\n%s", code, body)
	}
	if code, _ := get(t, srv, "/nothing"); code != 404 {
		t.Errorf("/nothing: %d", code)
	}

	down := httptest.NewServer(adminWithGauges(t, errors.New("ERP NATS connection is RECONNECTING")).Handler())
	defer down.Close()
	code, body = get(t, down, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "RECONNECTING") {
		t.Errorf("/readyz with the ERP down: %d %s", code, body)
	}
	// /status still answers (200) and says why the bridge is not ready.
	code, body = get(t, down, "/status")
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 || st.Ready.Ready {
		t.Errorf("/status with the ERP down: %d %s", code, body)
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "localhost": true, "LocalHost": true, "127.0.0.2": true,
		"0.0.0.0": false, "": false, "10.0.0.5": false, "bridge.dmz": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
