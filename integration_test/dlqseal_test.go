package integration_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/store"
)

// Personal values planted in rejected events.
var planted = []string{"DE89370400440532013000", "jane.doe@example.org", "4111111111111111", "+49 170 1234567"}

func runCLIEnv(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// withoutEnv is the process environment without the named variable.
func withoutEnv(name string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestDeadLettersSealedAtRest: rejected events carrying personal values
// go through a bridge with a sealing key. No planted value is anywhere in
// the store's files, in the raw dead-letter messages or in their Dmz-*
// headers; list and stats work without the key; with it, show --reveal
// and replay give the originals back byte for byte.
func TestDeadLettersSealedAtRest(t *testing.T) {
	bin := cliBinary(t)
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DMZ_TEST_DLQ_KEY", base64.StdEncoding.EncodeToString(raw))

	schemas := t.TempDir()
	schema := func(colors string) {
		body := `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://schemas.test/widget.made.v1.json",` +
			`"type":"object","required":["widget_id","color"],"properties":{"widget_id":{"type":"string"},"color":{"enum":[` + colors + `]}}}`
		if err := os.WriteFile(filepath.Join(schemas, "widget.made.v1.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	schema(`"red"`)
	partner := startDLQPartner(t, "SEAL_IN", "seal.>")
	erp := natsERP(t)
	storeDir := filepath.Join(t.TempDir(), "js")
	cfgYAML := bridgeYAML(storeDir, bridgetest.FreePort(t), erp.yaml,
		partner.block("maker-s", "seal.>", "SEAL_IN", "    allowed_types: [widget.made]")) +
		"schemas_dir: " + schemas + "\ndead_letter: {seal_key_env: DMZ_TEST_DLQ_KEY}\n"
	cfgPath := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	rb := startBridge(t, cfgYAML, app.Options{})
	hdr := map[string]string{"Event-Type": "widget.made", "X-Customer-Email": "jane.doe@example.org", "X-Phone": "+49 170 1234567"}
	// Rejected by the schema (a color it does not know yet) with personal
	// values beside it, and malformed (truncated inside an IBAN).
	invalid := func(i int) string {
		return fmt.Sprintf(`{"widget_id":"W%d","color":"green","owner":"jane.doe@example.org","iban":"DE89370400440532013000","card":"4111111111111111"}`, i)
	}
	truncated := func(i int) string { return fmt.Sprintf(`{"widget_id":"T%d","iban":"DE89370400440532013000`, i) }
	partner.publish(t, "seal.widget", "inv", 5, hdr, invalid)
	partner.publish(t, "seal.widget", "trunc", 5, hdr, truncated)
	js, topo := rb.b.JetStream(), rb.b.Topology()
	eventually(t, 30*time.Second, "10 events dead-lettered", func() (bool, string) {
		d := streamMsgs(t, js, topo.DeadLetterStream())
		return d == 10, fmt.Sprintf("%d dead-lettered", d)
	})

	// The raw messages, as `nats stream get` shows them.
	ctx := context.Background()
	dlqStream, err := js.Stream(ctx, topo.DeadLetterStream())
	if err != nil {
		t.Fatal(err)
	}
	last := dlqStream.CachedInfo().State.LastSeq
	seen := 0
	for seq := uint64(1); seq <= last; seq++ {
		m, err := dlqStream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		seen++
		if !store.IsSealed(m.Header) {
			t.Errorf("entry %d is not sealed: %v", seq, m.Header)
		}
		for _, v := range planted {
			if bytes.Contains(m.Data, []byte(v)) {
				t.Errorf("entry %d: data holds %q", seq, v)
			}
			for name, vals := range m.Header {
				for _, hv := range vals {
					if strings.Contains(hv, v) {
						t.Errorf("entry %d: header %s holds %q", seq, name, v)
					}
				}
			}
		}
		if m.Header.Get(bridge.HeaderReason) == "" || m.Header.Get(bridge.HeaderPartner) != "maker-s" {
			t.Errorf("entry %d lacks its clear metadata: %v", seq, m.Header)
		}
	}
	if seen != 10 {
		t.Fatalf("read %d entries, want 10", seen)
	}

	// Operators filter without the key.
	noKey := withoutEnv("DMZ_TEST_DLQ_KEY")
	out, errOut, code := runCLIEnv(t, bin, noKey, "dlq", "stats", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "schema_invalid") || !strings.Contains(out, "malformed") || !regexp.MustCompile(`(?m)^TOTAL\s+10\s`).MatchString(out) {
		t.Fatalf("stats without the key: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runCLIEnv(t, bin, noKey, "dlq", "list", "--config", cfgPath, "--reason", "malformed")
	if code != 0 || !strings.Contains(out, "5 entries") {
		t.Fatalf("list without the key: exit %d\n%s\n%s", code, out, errOut)
	}
	// Opening needs it: a clear error, nothing shown.
	out, errOut, code = runCLIEnv(t, bin, noKey, "dlq", "show", "1", "--config", cfgPath, "--reveal")
	if code == 0 || !strings.Contains(errOut, "DMZ_TEST_DLQ_KEY is not set") {
		t.Fatalf("show without the key: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, v := range planted {
		if strings.Contains(out+errOut, v) {
			t.Fatalf("show without the key printed %q", v)
		}
	}

	// Stop the bridge, then look at every file of its store.
	rb.shutdown()
	files := 0
	if err := filepath.WalkDir(storeDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, v := range planted {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds %q", path, v)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no store files found")
	}

	// With the key: show --reveal gives each original back.
	env := os.Environ()
	for _, tc := range []struct {
		seq  int
		want string
	}{{1, invalid(0)}, {6, truncated(0)}} {
		out, errOut, code = runCLIEnv(t, bin, env, "dlq", "show", fmt.Sprint(tc.seq), "--config", cfgPath, "--reveal", "--json", "--operator", "alice")
		if code != 0 {
			t.Fatalf("show %d: exit %d\n%s\n%s", tc.seq, code, out, errOut)
		}
		var v struct {
			Payload     json.RawMessage   `json:"payload"`
			PayloadText string            `json:"payload_text"`
			Headers     map[string]string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("show %d: %v\n%s", tc.seq, err, out)
		}
		got := v.PayloadText
		if v.Payload != nil {
			var c bytes.Buffer
			if err := json.Compact(&c, v.Payload); err != nil {
				t.Fatal(err)
			}
			got = c.String()
		}
		if got != tc.want || v.Headers["X-Customer-Email"] != "jane.doe@example.org" {
			t.Fatalf("show %d --reveal: payload %q headers %v, want %q", tc.seq, got, v.Headers, tc.want)
		}
	}

	// Replay after the schema is fixed: the invalid events go back into
	// the ingest stream exactly as received; the malformed stay sealed.
	schema(`"red","green"`)
	out, errOut, code = runCLIEnv(t, bin, env, "dlq", "replay", "--config", cfgPath, "--all", "--operator", "alice")
	if code != 5 || !strings.Contains(out, "10 selected: 5 replayed") {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	ns := startNATS(t, storeDir)
	_, njs := ns.js(t)
	ingest, err := njs.Stream(ctx, topo.IngestStream())
	if err != nil {
		t.Fatal(err)
	}
	var replayed []string
	for seq := ingest.CachedInfo().State.FirstSeq; seq <= ingest.CachedInfo().State.LastSeq; seq++ {
		m, err := ingest.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		if m.Header.Get(bridge.HeaderReplayOf) != "" {
			replayed = append(replayed, string(m.Data))
		}
	}
	want := []string{invalid(0), invalid(1), invalid(2), invalid(3), invalid(4)}
	if strings.Join(replayed, "\n") != strings.Join(want, "\n") {
		t.Fatalf("replayed payloads:\n%s\nwant:\n%s", strings.Join(replayed, "\n"), strings.Join(want, "\n"))
	}
	left, err := njs.Stream(ctx, topo.DeadLetterStream())
	if err != nil {
		t.Fatal(err)
	}
	if n := left.CachedInfo().State.Msgs; n != 5 {
		t.Fatalf("%d entries left, want the 5 malformed", n)
	}
}
