package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/telemetry"
)

// statusNow is the CLI's clock in these tests; the bridge measured its
// gauges 4 s earlier.
var statusNow = goldenBase.Add(4 * time.Second)

// statusAdmin serves the real admin handler over metrics holding what a
// poller would have measured: bank-a up with a backlog, dealer-c down with
// dead letters, logistics-b reconnecting and its forwarder down; certificates near, far, expired
// and unreadable. erpErr makes the ERP check fail.
func statusAdmin(t *testing.T, erpErr error) *httptest.Server {
	t.Helper()
	m, err := telemetry.NewMetrics()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	m.SetDurability(config.DurabilityFsync)
	erpState := bridge.StateUp
	if erpErr != nil {
		erpState = bridge.StateDown
	}
	day := 24 * time.Hour
	m.SetGauges(telemetry.Gauges{
		At:          goldenBase,
		Backlog:     map[string]int64{"bank-a": 1250, "dealer-c": 0, "logistics-b": 7},
		DeadLetters: map[string]int64{"bank-a": 0, "dealer-c": 14, "logistics-b": 2},
		Rate:        map[string]float64{"bank-a": 312.46, "logistics-b": 0.2},
		OldestAge:   map[string]time.Duration{"bank-a": 95 * time.Second, "dealer-c": 0, "logistics-b": 3 * time.Hour},
		Streams: []telemetry.StreamUsage{{Stream: "DMZ_INGEST", Bytes: 900 << 20, MaxBytes: 1 << 30},
			{Stream: "DMZ_DLQ", Bytes: 5 << 10, MaxBytes: -1}},
		Account: &telemetry.AccountUsage{Bytes: 905 << 20, Limit: 20 << 30},
		Connectors: []telemetry.ConnectorState{
			{Partner: "logistics-b", Role: "inbound", Connector: "kafka", State: bridge.StateConnecting},
			{Partner: "bank-a", Role: "inbound", Connector: "amqp", State: bridge.StateUp},
			{Partner: "dealer-c", Role: "inbound", Connector: "nats", State: bridge.StateDown},
			{Role: "erp", Connector: "nats", State: erpState},
			{Partner: "bank-a", Role: telemetry.RoleForwarder, Connector: "jetstream", State: bridge.StateUp},
			{Partner: "dealer-c", Role: telemetry.RoleForwarder, Connector: "jetstream", State: bridge.StateUp},
			{Partner: "logistics-b", Role: telemetry.RoleForwarder, Connector: "jetstream", State: bridge.StateDown},
		},
		// Sorted as the poller sorts them: unreadable (no time) first.
		Certificates: []telemetry.CertExpiry{
			{Owner: "partner:dealer-c", File: "/etc/dmzbridge/pki/dealer-c.pem", Err: "open /etc/dmzbridge/pki/dealer-c.pem: no such file or directory"},
			{Owner: "partner:logistics-b", File: "/etc/dmzbridge/pki/logistics-ca.pem", NotAfter: goldenBase.Add(-3 * day)},
			{Owner: "partner:bank-a", File: "/etc/dmzbridge/pki/bank-a-ca.pem", NotAfter: goldenBase.Add(12*day + 5*time.Hour)},
			{Owner: "jetstream", File: "/etc/dmzbridge/pki/js.pem", NotAfter: goldenBase.Add(200 * day)},
			{Owner: "partner:bank-a", File: "/etc/dmzbridge/pki/bank-a.pem", NotAfter: goldenBase.Add(400 * day)},
		},
	})
	admin := &telemetry.Admin{Metrics: m, Checks: []telemetry.Check{
		{Name: "jetstream", Fn: func(context.Context) error { return nil }},
		{Name: "erp", Fn: func(context.Context) error { return erpErr }},
	}}
	srv := httptest.NewServer(admin.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// runStatus runs the status command with the fixed clock.
func runStatus(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newStatusCmd(func() time.Time { return statusNow })
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestStatusGolden: the table an operator reads, from the real admin
// handler over HTTP, healthy and with the ERP down.
func TestStatusGolden(t *testing.T) {
	for _, c := range []struct {
		name   string
		erpErr error
	}{
		{"status_table", nil},
		{"status_erp_down", errors.New("ERP NATS connection is RECONNECTING")},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := statusAdmin(t, c.erpErr)
			out, err := runStatus(t, "--admin", srv.URL)
			if err != nil {
				t.Fatalf("status: %v\n%s", err, out)
			}
			golden(t, c.name, out)
		})
	}
}

// TestStatusJSON: --json passes the bridge's /status document through,
// durability included, for scripts.
func TestStatusJSON(t *testing.T) {
	srv := statusAdmin(t, nil)
	out, err := runStatus(t, "--admin", srv.URL, "--json")
	if err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	resp, err := srv.Client().Get(srv.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var direct bytes.Buffer
	if _, err := direct.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if out != direct.String() {
		t.Fatalf("--json differs from GET /status:\n%s\n---\n%s", out, direct.String())
	}
	var st struct {
		Durability string `json:"durability"`
		Partners   []struct {
			Partner, State string
			Backlog        int64 `json:"backlog"`
			DeadLetters    int64 `json:"dead_letters"`
		} `json:"partners"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Durability != "fsync" || len(st.Partners) != 3 || st.Partners[1].Partner != "dealer-c" ||
		st.Partners[1].State != "down" || st.Partners[1].DeadLetters != 14 || st.Partners[0].Backlog != 1250 {
		t.Fatalf("decoded %+v", st)
	}
}

// TestStatusAddressFromConfig: without --admin the address is
// admin.listen; a bridge listening on every interface is asked on
// loopback; admin.listen: off is a clear error.
func TestStatusAddressFromConfig(t *testing.T) {
	srv := statusAdmin(t, nil)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(listen string) string {
		return writeFile(t, "bridge.yaml", fmt.Sprintf(`environment: test
jetstream: {embedded: true, store_dir: /tmp/x}
admin: {listen: %q}
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - name: bank-a
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "bank.>"}}
`, listen))
	}
	for _, listen := range []string{"127.0.0.1:" + port, "0.0.0.0:" + port, ":" + port} {
		out, err := runStatus(t, "--config", cfg(listen))
		if err != nil || !strings.Contains(out, "durability:  fsync") || !strings.Contains(out, "1250") {
			t.Errorf("admin.listen %s: %v\n%s", listen, err, out)
		}
	}
	_, err = runStatus(t, "--config", cfg("off"))
	if err == nil || !strings.Contains(err.Error(), "admin.listen: off") || !strings.Contains(err.Error(), "--admin") {
		t.Errorf("admin.listen off: %v", err)
	}
	_, code := runCLI(t, "status", "--config", writeFile(t, "bad.yaml", "environment: test\n"))
	if code != exitConfig {
		t.Errorf("invalid config: exit %d, want %d", code, exitConfig)
	}
}

// TestStatusUnreachable: no bridge at the address is an error naming it,
// with exit code 1; so is something that is not the admin listener.
func TestStatusUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = runStatus(t, "--admin", addr)
	if err == nil || !strings.Contains(err.Error(), "bridge not reachable at http://"+addr) {
		t.Fatalf("unreachable: %v", err)
	}
	if _, code := runCLI(t, "status", "--admin", addr); code != exitFailure {
		t.Fatalf("unreachable: exit %d, want %d", code, exitFailure)
	}

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/status" {
			fmt.Fprint(w, `{"status":"green"}`)
			return
		}
		http.NotFound(w, r)
	}))
	defer other.Close()
	if _, err := runStatus(t, "--admin", other.URL); err == nil || !strings.Contains(err.Error(), "not a dmzbridge admin listener") {
		t.Errorf("foreign /status: %v", err)
	}
	if _, err := runStatus(t, "--admin", other.URL+"/sub"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
}
