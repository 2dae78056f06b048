package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// syncBuffer collects a child process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestQuickStartLocalConfig runs the README's quick start as written, with
// the real binary against the brokers deploy/dev/brokers.sh starts:
// config check, serve, a publish with a standard client (nats.go and
// amqp091-go here, as `nats request` would), dlq list. DMZ_LOCAL_ID gives
// this run its own streams, exchange, queue and subjects.
func TestQuickStartLocalConfig(t *testing.T) {
	const natsURL = "nats://127.0.0.1:4222"
	nc, err := nats.Connect(natsURL, nats.Timeout(5*time.Second))
	if err != nil {
		missingBroker(t, "NATS at 127.0.0.1:4222", err)
	}
	defer nc.Close()
	rabbit := requireRabbit(t)

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "dmzbridge")
	// -buildvcs=auto overrides a GOFLAGS=-buildvcs=false in the environment:
	// the binary is stamped as a user's `go build` stamps it.
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, "./cmd/dmzbridge")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	id := fmt.Sprintf("qs%d", time.Now().UnixNano()%1_000_000_000)
	admin := fmt.Sprintf("127.0.0.1:%d", bridgetest.FreePort(t))
	env := append(os.Environ(), "DMZ_LOCAL_ID="+id, "DMZ_ADMIN_LISTEN="+admin)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = root, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { cleanupLocal(t, nc, rabbit, id) })

	// --version names the revision of this build. Go stamps it from a git
	// checkout whose .git is a directory, not from a git worktree.
	if st, err := os.Stat(filepath.Join(root, ".git")); err == nil && st.IsDir() {
		rev := exec.Command("git", "rev-parse", "HEAD")
		rev.Dir = root
		head, err := rev.Output()
		if err != nil {
			t.Fatalf("git rev-parse HEAD: %v", err)
		}
		if out, err := run("--version"); err != nil || !strings.Contains(out, "revision  "+strings.TrimSpace(string(head))) {
			t.Errorf("dmzbridge --version (err %v) does not show the revision %s:\n%s", err, head, out)
		}
	} else {
		t.Logf("%s is not a plain git checkout: --version's revision is not checked", root)
	}

	// 1. config check
	if out, err := run("config", "check", "deploy/config/local.yaml"); err != nil || !strings.Contains(out, "local.yaml: ok") {
		t.Fatalf("config check (err %v):\n%s", err, out)
	}

	// The ERP side: a subscriber on the ERP subjects, before anything flows.
	erp, err := nc.SubscribeSync("erp." + id + ".>")
	if err != nil {
		t.Fatal(err)
	}

	// 2. serve
	var log syncBuffer
	serve := exec.Command(bin, "serve", "--config", "deploy/config/local.yaml")
	serve.Dir, serve.Env, serve.Stdout, serve.Stderr = root, env, &log, &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = serve.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(60 * time.Second):
			_ = serve.Process.Kill()
			return fmt.Errorf("serve did not stop within 60s of SIGTERM")
		}
	}
	defer stop()
	eventually(t, 90*time.Second, "serve ready on "+admin, func() (bool, string) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("serve exited early (%v):\n%s", err, log.String())
		default:
		}
		resp, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})

	// 3. publish: a valid order on NATS (request-reply: +OK once stored),
	// an order that breaks its schema, and a payment on AMQP.
	order := `{"order_id":"ORD-1","created_at":"2026-12-02T10:00:00Z","currency":"EUR","total":42.5,` +
		`"customer":{"customer_id":"C-1","name":"Autohaus Beispiel","email":"orders@autohaus.example"},` +
		`"lines":[{"sku":"BRK-PAD-01","quantity":2,"unit_price":21.25}],"payment":{"method":"card","card_number":"4111 1111 1111 1111"}}`
	subject := "partners." + id + ".dealer.order.created"
	eventually(t, 60*time.Second, "the dealer's order stored (+OK)", func() (bool, string) {
		msg, err := nc.Request(subject, []byte(order), 5*time.Second)
		if err != nil {
			return false, err.Error()
		}
		return string(msg.Data) == "+OK", string(msg.Data)
	})
	if _, err := nc.Request(subject, []byte(`{"order_id":"ORD-2"}`), 10*time.Second); err != nil {
		t.Fatalf("invalid order: %v", err)
	}
	// The bridge declares the bank's exchange and queue; a publish before
	// the queue is bound would be unroutable, so wait for its consumer.
	eventually(t, 60*time.Second, "the bridge consuming the bank's queue", func() (bool, string) {
		ch, err := rabbit.Channel()
		if err != nil {
			return false, err.Error()
		}
		defer ch.Close()
		q, err := ch.QueueDeclarePassive("dmzbridge.bank."+id, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
		if err != nil {
			return false, err.Error()
		}
		return q.Consumers > 0, fmt.Sprintf("%d consumers", q.Consumers)
	})
	ch, err := rabbit.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	payment := `{"payment_id":"PAY-1","booked_at":"2026-12-02T10:00:00Z","amount":100,"currency":"EUR",` +
		`"payer":{"name":"Muster Handel GmbH","iban":"DE89370400440532013000"}}`
	conf, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "partner.bank."+id, "payment", true, false, amqp.Publishing{
		ContentType: "application/json", MessageId: "PAY-1", DeliveryMode: amqp.Persistent,
		Headers: amqp.Table{"Event-Type": "payment.received"}, Body: []byte(payment),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := conf.WaitContext(context.Background()); err != nil || !ok {
		t.Fatalf("RabbitMQ did not confirm the payment (%v)", err)
	}

	// The two valid events reach the ERP, masked.
	got := map[string]string{}
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		m, err := erp.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		got[m.Subject] = string(m.Data)
	}
	if len(got) != 2 {
		t.Fatalf("ERP received %d of 2 events: %v\nbridge log:\n%s", len(got), got, log.String())
	}
	if p := got["erp."+id+".bank"]; !strings.Contains(p, "PAY-1") || strings.Contains(p, "DE89370400440532013000") {
		t.Errorf("payment at the ERP is missing or unmasked: %s", p)
	}
	if o := got["erp."+id+".dealer"]; !strings.Contains(o, "ORD-1") || strings.Contains(o, "4111 1111 1111 1111") {
		t.Errorf("order at the ERP is missing or unmasked: %s", o)
	}

	// 4. dlq list: the invalid order, with its reason; the log names it too.
	out, err := run("dlq", "list", "--config", "deploy/config/local.yaml", "--json")
	if err != nil {
		t.Fatalf("dlq list (err %v):\n%s", err, out)
	}
	var entries []struct{ Partner, Reason string }
	if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &entries); err != nil {
		t.Fatalf("dlq list --json: %v\n%s", err, out)
	}
	if len(entries) != 1 || entries[0].Partner != "dealer" || entries[0].Reason != "schema_invalid" {
		t.Errorf("dlq list: %+v, want one schema_invalid entry of dealer", entries)
	}
	if err := stop(); err != nil {
		t.Errorf("serve did not stop cleanly on SIGTERM: %v\n%s", err, log.String())
	}
	if l := log.String(); !strings.Contains(l, "event dead-lettered") || !strings.Contains(l, "reason=schema_invalid") || strings.Contains(l, "ORD-2") {
		t.Errorf("the bridge log lacks the dead letter's line, or shows its payload:\n%s", l)
	}
}

// cleanupLocal removes what the run created on the shared brokers.
func cleanupLocal(t *testing.T, nc *nats.Conn, rabbit *amqp.Connection, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if js, err := jetstream.New(nc); err == nil {
		names := js.StreamNames(ctx)
		var mine []string
		for n := range names.Name() {
			if strings.HasPrefix(n, "DMZ_"+id+"_") {
				mine = append(mine, n)
			}
		}
		for _, n := range mine {
			if err := js.DeleteStream(ctx, n); err != nil {
				t.Logf("cleanup: delete stream %s: %v", n, err)
			}
		}
	}
	if ch, err := rabbit.Channel(); err == nil {
		_, _ = ch.QueueDelete("dmzbridge.bank."+id, false, false, false)
		_ = ch.ExchangeDelete("partner.bank."+id, false, false)
		ch.Close()
	}
}
