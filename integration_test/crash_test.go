package integration_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// bridgeBinary builds cmd/dmzbridge once per test run, so tests can kill a
// real bridge process with SIGKILL.
var bridgeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "dmzbridge-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "dmzbridge")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/dmzbridge/dmzbridge/cmd/dmzbridge").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// bridgeProc is a dmzbridge serve process.
type bridgeProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startBridgeProc(t *testing.T, yaml string) *bridgeProc {
	t.Helper()
	bin, err := bridgeBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "bridge.log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &bridgeProc{cmd: exec.Command(bin, "serve", "--config", cfg), log: logf.Name(), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			if b, err := os.ReadFile(p.log); err == nil {
				t.Logf("bridge log %s:\n%s", p.log, tail(string(b), 4000))
			}
		}
	})
	return p
}

// kill sends SIGKILL: no drain, no flush, like a crash.
func (p *bridgeProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// partnerAcked reports whether the bridge has acknowledged the first n
// messages of the partner's stream to the partner's broker.
func partnerAcked(js jetstream.JetStream, stream, consumer string, n uint64) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return false, err.Error()
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, err.Error()
	}
	return info.AckFloor.Stream >= n, fmt.Sprintf("ack floor %d of %d, %d awaiting ack", info.AckFloor.Stream, n, info.NumAckPending)
}

// TestCrashPowerLossAfterAck sends events through a partner's JetStream
// stream into a bridge whose store sits on LazyFS, waits until the bridge
// acknowledged all of them to the partner, kills the bridge with SIGKILL,
// drops every unsynced byte (a power loss) and restarts it. Under fsync
// every acknowledged event reaches the ERP; under relaxed the test shows
// that acknowledged events were lost, which proves it can fail.
func TestCrashPowerLossAfterAck(t *testing.T) {
	bin := requireLazyFS(t)
	for _, mode := range []string{"fsync", "relaxed"} {
		t.Run(mode, func(t *testing.T) {
			const total = 2000
			fs := startLazyFS(t, bin)

			partner := startNATS(t, "")
			_, pjs := partner.js(t)
			createStream(t, pjs, "PARTNER_CRASH", "crash.>")

			// The ERP is down while events arrive, so they wait in the
			// bridge's store: what the power loss takes is gone for good.
			erp := stoppedNATS(t)
			erpYAML := fmt.Sprintf("type: nats\noptions:\n  url: nats://127.0.0.1:%d\n  subject: erp.events.{partner}\n  jetstream: true\n", erp.Opts.Port)
			partnerYAML := fmt.Sprintf(`  - name: bank-c
    inbound:
      type: nats
      options:
        url: %s
        subject: crash.>
        stream: PARTNER_CRASH
        max_in_flight: 4096`, partner.url())
			port := bridgetest.FreePort(t)
			cfg := func(storeDir string) string {
				y := bridgeYAML(storeDir, port, erpYAML, partnerYAML)
				return replaceOnce(y, "  embedded: true\n", "  embedded: true\n  max_store: 1073741824\n  durability: "+mode+"\n")
			}

			br := startBridgeProc(t, cfg(fs.mnt))
			ids := make([]string, total)
			for i := range total {
				ids[i] = fmt.Sprintf("crash-%s-%05d", mode, i)
				m := nats.NewMsg("crash.order.created")
				m.Header.Set(nats.MsgIdHdr, ids[i])
				m.Data = []byte(fmt.Sprintf(`{"seq":%d,"pad":"%0512d"}`, i, i))
				if _, err := pjs.PublishMsgAsync(m); err != nil {
					t.Fatalf("partner publish: %v", err)
				}
			}
			select {
			case <-pjs.PublishAsyncComplete():
			case <-time.After(30 * time.Second):
				t.Fatal("partner publishes not acknowledged")
			}
			eventually(t, 60*time.Second, "bridge acknowledged every event to the partner", func() (bool, string) {
				return partnerAcked(pjs, "PARTNER_CRASH", "dmzbridge-bank-c", total)
			})

			br.kill()
			fs.powerLoss(t)

			// Restart on what survived, with the ERP up.
			erp.start(t)
			nc, ejs := erp.js(t)
			createStream(t, ejs, "ERP", "erp.>")
			c := &erpCollector{}
			sub, err := nc.Subscribe("erp.>", func(m *nats.Msg) { c.add(m.Header.Get(nats.MsgIdHdr)) })
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			startBridgeProc(t, cfg(fs.disk))

			// A sentinel sent after the restart marks when the bridge is
			// forwarding again; anything stored before it goes first.
			m := nats.NewMsg("crash.order.created")
			m.Header.Set(nats.MsgIdHdr, "sentinel-"+mode)
			m.Data = []byte(`{"sentinel":true}`)
			if _, err := pjs.PublishMsg(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			if mode == "fsync" {
				eventually(t, 60*time.Second, "every acknowledged event at the ERP", func() (bool, string) {
					n := c.distinct()
					return n >= total+1, fmt.Sprintf("%d of %d", n, total+1)
				})
				c.checkAll(t, ids)
				return
			}
			eventually(t, 60*time.Second, "sentinel at the ERP", func() (bool, string) {
				return c.has("sentinel-" + mode), fmt.Sprintf("%d distinct so far", c.distinct())
			})
			time.Sleep(2 * time.Second)
			lost := 0
			for _, id := range ids {
				if !c.has(id) {
					lost++
				}
			}
			t.Logf("relaxed: %d of %d acknowledged events lost to the power loss", lost, total)
			if lost == 0 {
				t.Fatal("relaxed durability lost nothing: the power-loss simulation did not bite, so the fsync result proves nothing")
			}
		})
	}
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	panic("replaceOnce: " + old + " not found")
}

func (c *erpCollector) has(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, got := range c.ids {
		if got == id {
			return true
		}
	}
	return false
}

// checkAll asserts every id arrived at least once (order not required).
func (c *erpCollector) checkAll(t *testing.T, want []string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[string]int, len(c.ids))
	for _, id := range c.ids {
		seen[id]++
	}
	missing := 0
	for _, id := range want {
		if seen[id] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged ids never reached the ERP", missing, len(want))
	}
	t.Logf("%d ids at the ERP, %d deliveries (duplicates carry the same id)", len(seen), len(c.ids))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
