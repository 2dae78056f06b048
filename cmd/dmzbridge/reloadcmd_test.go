package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/dmzbridge/dmzbridge/bridge/telemetry"
)

// TestServeReloads runs serve, reloads it by SIGHUP (which must not end
// the process) and by `dmzbridge reload`, whose exit code tells a refused
// reload from an applied one.
func TestServeReloads(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	admin := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "bridge.yaml")
	partner := func(name string) string {
		return fmt.Sprintf("  - {name: %s, inbound: {type: nats, options: {url: %q, subject: \"%s.>\"}}}\n", name, srv.ClientURL(), name)
	}
	write := func(retryDelay string, partners ...string) {
		y := fmt.Sprintf(`environment: test
jetstream: {embedded: true, store_dir: %s, listen: "127.0.0.1:%d"}
forward: {retry_delay: %s}
admin: {listen: %q}
log: {level: error}
erp: {type: nats, options: {url: %q, subject: erp.events}}
partners:
%s`, filepath.Join(dir, "js"), freeTCPPort(t), retryDelay, admin, srv.ClientURL(), strings.Join(partners, ""))
		if err := os.WriteFile(cfgPath, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1s", partner("bank"))
	// The jetstream listen port is drawn anew by every write: keep the
	// first so later writes change only what the test means to change.
	first, _ := os.ReadFile(cfgPath)
	keep := func(retryDelay string, partners ...string) {
		write(retryDelay, partners...)
		cur, _ := os.ReadFile(cfgPath)
		lines, firstLines := strings.Split(string(cur), "\n"), strings.Split(string(first), "\n")
		lines[1] = firstLines[1]
		if err := os.WriteFile(cfgPath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetArgs([]string{"serve", "--config", cfgPath})
		served <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("serve did not stop")
		}
	})
	status := func() telemetry.Status {
		var st telemetry.Status
		resp, err := http.Get("http://" + admin + "/status")
		if err != nil {
			return st
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return st
	}
	waitFor := func(what string, cond func(telemetry.Status) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-served:
				t.Fatalf("serve ended while waiting for %s: %v", what, err)
			default:
			}
			if cond(status()) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s; status %+v", what, status())
	}
	waitFor("the bridge to serve", func(st telemetry.Status) bool { return len(st.Partners) == 1 })

	// SIGHUP: a new partner, applied; the process lives on.
	keep("1s", partner("bank"), partner("shop"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the SIGHUP reload", func(st telemetry.Status) bool {
		return st.LastReload != nil && st.LastReload.Outcome == telemetry.ReloadApplied && len(st.Partners) == 2
	})

	run := func(args ...string) (string, int) {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		err := root.ExecuteContext(context.Background())
		code := exitOK
		if err != nil {
			code = exitCode(err)
			out.WriteString(err.Error())
		}
		return out.String(), code
	}
	// A change that needs a restart: refused, exit code 7, reason shown.
	keep("2s", partner("bank"))
	out, code := run("reload", "--config", cfgPath, "--operator", "carol")
	if code != 7 || !strings.Contains(out, "forward cannot change") {
		t.Fatalf("refused reload: exit %d, %q", code, out)
	}
	if st := status(); len(st.Partners) != 2 || st.LastReload.Outcome != telemetry.ReloadRefused {
		t.Fatalf("refused reload changed the bridge: %+v", st)
	}
	// The same without the restart-only change: applied, exit 0.
	keep("1s", partner("bank"))
	out, code = run("reload", "--admin", admin, "--operator", "carol")
	if code != exitOK || !strings.Contains(out, "reload applied: removed shop") {
		t.Fatalf("reload: exit %d, %q", code, out)
	}
	waitFor("shop removed", func(st telemetry.Status) bool { return len(st.Partners) == 1 })
}

// TestConfigCheckSchemaCompatibility: config check runs the schema check
// on schemas_dir; a compatible newest version is a note, an incompatible
// one an error with its JSON pointer and rule (exit code 3).
func TestConfigCheckSchemaCompatibility(t *testing.T) {
	v1, err := os.ReadFile(filepath.Join("..", "..", "schemas", "order.created.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := func(from, to string) []byte {
		b := bytes.Replace(v1, []byte(from), []byte(to), 1)
		if bytes.Equal(b, v1) {
			t.Fatalf("%q not in v1", from)
		}
		return bytes.Replace(b, []byte("order.created/v1.json"), []byte("order.created/v2.json"), 1)
	}
	cases := []struct {
		name     string
		v2       []byte
		wantCode int
		want     string
	}{
		{"compatible", v2(`"partner": {"type": "string"},`, `"partner": {"type": "string"}, "gift_wrap": {"type": "boolean"},`),
			exitOK, "note: schemas_dir: schema order.created v1 → v2: compatible (backward)"},
		{"incompatible", v2(`"lines", "total"]`, `"lines", "total", "payment"]`),
			exitConfig, "order.created.v2.json#/required: required-added (backward)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range map[string][]byte{"order.created.v1.json": v1, "order.created.v2.json": tc.v2} {
				if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := writeFile(t, "bridge.yaml", `environment: test
jetstream: {embedded: true, store_dir: /tmp/x}
schemas_dir: `+dir+`
erp: {type: nats, options: {url: "nats://erp:4222", subject: erp.events}}
partners:
  - name: dealer-c
    inbound: {type: nats, options: {url: "nats://p:4222", subject: "dealer.>"}}
    allowed_types: [order.created]
`)
			out, code := runCLI(t, "config", "check", cfg)
			if code != tc.wantCode || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s", code, tc.wantCode, tc.want, out)
			}
		})
	}
}
