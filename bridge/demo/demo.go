// Package demo is `dmzbridge demo`: a bridge on an embedded JetStream with
// simulated partners and an ERP consumer, runnable without any broker or
// configuration, so a newcomer sees validation, masking, dead-lettering
// and replay at work.
package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/dlq"
	"github.com/dmzbridge/dmzbridge/schemas"
)

// Options are what a demo run takes from its command line.
type Options struct {
	// Out receives the narration and the summary.
	Out io.Writer
	// PerPartner is how many events each partner sends.
	PerPartner int
	// Logger is the bridge's log; nil: none.
	Logger *slog.Logger
	// Keep is a new or empty directory to leave the store, schemas and
	// configuration in; "": a temporary directory, removed at the end.
	Keep string
}

// KeepDirError says Options.Keep cannot be used; the command line is to
// blame, not the demo.
type KeepDirError struct{ error }

// partner is a simulated partner. typeSource says where the bridge
// reads its event type: a header, a JSON field or the subject.
type partner struct{ name, kind, eventType, typeSource, checks string }

var partners = []partner{
	{"bank-a", "jetstream", "payment.received", "header", `    allowed_types: [payment.received]
    masking:
      hash_key_env: DMZ_DEMO_MASK_KEY
      policies:
        - fields:
            - {path: /payer/iban, action: last4}
            - {path: payer.email, action: hash}
            - {path: payer.phone, action: redact}
            - {path: payer.tax_id, action: drop}
          detectors: [iban, email]
`},
	{"logistics-b", "request", "shipment.dispatched", "json", `    event_type: {json_field: /type}
    allowed_types: [shipment.dispatched]
    masking:
      policies:
        - fields:
            - {path: recipient.email, action: redact}
            - {path: recipient.phone, action: keep_last, keep: 3}
          detectors: [email]
`},
	{"dealer-c", "jetstream", "order.created", "subject", `    event_type: {subject_from_token: 2}
    allowed_types: [order.created]
    masking:
      policies:
        - fields:
            - {path: payment.card_number, action: last4}
            - {path: customer.email, action: redact}
          detectors: [card]
`},
}

func configYAML(dir string, port int) string {
	// Each partner sends realistic events checked against the shipped
	// schemas (copied to dir/schemas) and masked by its own policy.
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	cfg := fmt.Sprintf(`environment: demo
jetstream:
  embedded: true
  store_dir: %s
  listen: 127.0.0.1:%d
erp:
  type: nats
  options:
    url: %s
    subject: erp.events.{partner}
    jetstream: true
schemas_dir: %s
partners:
`, dir, port, url, filepath.Join(dir, "schemas"))
	for _, p := range partners {
		cfg += fmt.Sprintf("  - name: %s\n    inbound:\n      type: nats\n      options:\n        url: %s\n        subject: partners.%s.>\n", p.name, url, p.name)
		if p.kind == "jetstream" {
			cfg += "        stream: DEMO_PARTNERS\n"
		}
		cfg += fmt.Sprintf("    max_message_bytes: %d\n", maxBytes) + p.checks
	}
	return cfg
}

// Run starts the bridge on an embedded JetStream server, lets three
// simulated partners publish sample events (about one in ten invalid),
// prints what the ERP receives, replays the events rejected for a type the
// operator then allows, and ends with a summary. It fails when the counts
// do not add up.
func Run(ctx context.Context, o Options) error {
	out, perPartner, keep := o.Out, o.PerPartner, o.Keep
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	dir, err := workDir(keep)
	if err != nil {
		return err
	}
	if keep == "" {
		defer os.RemoveAll(dir)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	if err := copySchemas(dir); err != nil {
		return err
	}
	cfgYAML := configYAML(dir, port)
	cfg, err := config.Parse([]byte(cfgYAML))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	cfgPath := filepath.Join(dir, "dmzbridge.yaml")
	if keep != "" {
		if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o644); err != nil {
			return fmt.Errorf("demo config: %w", err)
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	counters := bridge.NewCounters()
	reasons := &reasonCounter{}
	b, err := app.Start(ctx, cfg, app.Options{Logger: log, Observers: []bridge.Observer{counters, reasons}})
	if err != nil {
		return fmt.Errorf("start bridge: %w", err)
	}
	defer b.Close()
	fmt.Fprintf(out, "dmzbridge demo: embedded JetStream at %s (store %s)\n", b.NATSURL(), dir)

	nc, err := nats.Connect(b.NATSURL())
	if err != nil {
		return fmt.Errorf("demo client: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := ensureStreams(ctx, js); err != nil {
		return err
	}
	var arrived atomic.Int64
	var sample atomic.Pointer[[]byte]
	erp, err := nc.Subscribe("erp.events.>", func(m *nats.Msg) {
		n := arrived.Add(1)
		if m.Subject == "erp.events.bank-a" {
			sample.CompareAndSwap(nil, &m.Data)
		}
		if n <= 6 || n%250 == 0 {
			fmt.Fprintf(out, "  ERP <- %-28s id=%s (%d so far)\n", m.Subject, m.Header.Get(nats.MsgIdHdr), n)
		}
	})
	if err != nil {
		return err
	}
	defer erp.Unsubscribe()

	runCtx, stopBridge := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- b.Run(runCtx) }()

	fmt.Fprintf(out, "partners publishing %d events each…\n", perPartner)
	sent, valid, err := publish(ctx, nc, js, perPartner)
	if err != nil {
		stopBridge()
		<-runDone
		return err
	}
	want := int64(valid)
	for (arrived.Load() < want || counters.Total().DeadLettered < int64(sent-valid)) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	replayed, replayErr := replayRejected(ctx, out, b, dir, port)
	if replayErr == nil {
		want += int64(replayed)
		for arrived.Load() < want && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	stopBridge()
	if err := <-runDone; err != nil {
		return err
	}
	if replayErr != nil {
		return replayErr
	}
	t := counters.Total()
	fmt.Fprintf(out, "\nsummary: sent %d, received %d, stored %d, forwarded %d, dead-lettered %d, arrived at ERP %d\n",
		sent, t.Received, t.Stored, t.Forwarded, t.DeadLettered, arrived.Load())
	fmt.Fprintf(out, "valid %d, masked and delivered as CloudEvents; invalid %d, dead-lettered in %s by reason: %s\n",
		valid, sent-valid, b.Topology().DeadLetterStream(), reasons)
	fmt.Fprintf(out, "replayed %d after the operator allowed their type; %d left in the dead-letter stream\n",
		replayed, sent-valid-replayed)
	defer func() {
		// The last lines of the output, after the sample payment.
		if keep != "" {
			fmt.Fprintf(out, "\nthe store is kept in %s; inspect the dead letters with:\n  dmzbridge dlq list --config %s\n  dmzbridge dlq stats --config %s\n", dir, cfgPath, cfgPath)
		} else {
			fmt.Fprintf(out, "\nthe store was removed; run `dmzbridge demo --keep DIR` to keep it for `dmzbridge dlq list --config DIR/dmzbridge.yaml`\n")
		}
	}()
	if p := sample.Load(); p != nil {
		var pretty bytes.Buffer
		if json.Indent(&pretty, *p, "  ", "  ") == nil {
			fmt.Fprintf(out, "\na masked payment as the ERP received it:\n  %s\n", pretty.String())
		}
	}
	if arrived.Load() < want {
		return fmt.Errorf("only %d of %d valid and replayed events reached the ERP before the demo timed out", arrived.Load(), want)
	}
	if t.DeadLettered != int64(sent-valid) {
		return fmt.Errorf("%d events dead-lettered, want %d", t.DeadLettered, sent-valid)
	}
	return nil
}

func ensureStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, sc := range []jetstream.StreamConfig{
		{Name: "DEMO_PARTNERS", Subjects: []string{"partners.bank-a.>", "partners.dealer-c.>"}, Storage: jetstream.FileStorage},
		{Name: "DEMO_ERP", Subjects: []string{"erp.>"}, Storage: jetstream.FileStorage},
	} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("demo stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// publish sends perPartner events from each partner, about one in ten
// invalid, and reports how many it sent and how many were valid.
func publish(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, perPartner int) (sent, valid int, err error) {
	for i := range perPartner {
		for pi, p := range partners {
			eventType, body, reason := event(p, pi, i)
			m := nats.NewMsg("partners." + p.name + "." + eventType)
			m.Data = body
			m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("%s-%06d", p.name, i))
			if p.typeSource == "header" {
				m.Header.Set(config.DefaultEventTypeHeader, eventType)
			}
			switch p.kind {
			case "jetstream":
				if _, err := js.PublishMsg(ctx, m); err != nil {
					return sent, valid, fmt.Errorf("partner %s publish: %w", p.name, err)
				}
			default:
				// A dead-lettered event is stored too, so it is also +OK.
				reply, err := requestWithRetry(ctx, nc, m)
				if err != nil {
					return sent, valid, fmt.Errorf("partner %s request: %w", p.name, err)
				}
				if string(reply.Data) != "+OK" {
					return sent, valid, fmt.Errorf("partner %s: bridge answered %q", p.name, reply.Data)
				}
			}
			sent++
			if reason == "" {
				valid++
			}
		}
	}
	return sent, valid, nil
}

// workDir is a temporary directory, or keep when given: created if
// missing, refused when not empty so an old store is never mixed in.
func workDir(keep string) (string, error) {
	if keep == "" {
		dir, err := os.MkdirTemp("", "dmzbridge-demo-")
		if err != nil {
			return "", fmt.Errorf("temp dir: %w", err)
		}
		return dir, nil
	}
	abs, err := filepath.Abs(keep)
	if err != nil {
		return "", KeepDirError{fmt.Errorf("--keep: %w", err)}
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return "", KeepDirError{fmt.Errorf("--keep %s: the directory is not empty; give a new or empty one", keep)}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("--keep: %w", err)
	}
	return abs, nil
}

// copySchemas copies the shipped schemas into the demo's directory, so the
// demo runs from any working directory.
func copySchemas(dir string) error {
	out := filepath.Join(dir, "schemas")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("demo schemas: %w", err)
	}
	files, err := fs.Glob(schemas.FS, "*.json")
	if err != nil {
		return fmt.Errorf("demo schemas: %w", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(schemas.FS, f)
		if err == nil {
			err = os.WriteFile(filepath.Join(out, f), b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("demo schema %s: %w", f, err)
		}
	}
	// The hash action needs a key; a demo run makes up its own.
	if os.Getenv("DMZ_DEMO_MASK_KEY") == "" {
		key := make([]byte, 24)
		_, _ = rand.Read(key)
		if err := os.Setenv("DMZ_DEMO_MASK_KEY", hex.EncodeToString(key)); err != nil {
			return fmt.Errorf("demo masking key: %w", err)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// requestWithRetry retries while the bridge's subscription is not up yet,
// as a partner would after "no responders".
func requestWithRetry(ctx context.Context, nc *nats.Conn, m *nats.Msg) (*nats.Msg, error) {
	for {
		reply, err := nc.RequestMsgWithContext(ctx, m)
		if !errors.Is(err, nats.ErrNoResponders) {
			return reply, err
		}
		if !bridge.Sleep(ctx, 100*time.Millisecond) {
			return nil, err
		}
	}
}

// replayRejected plays the operator: the partners' contracts now allow
// invoice.issued, so the events rejected as type_not_allowed are replayed
// through today's stages and reach the ERP; the rest stay dead-lettered.
func replayRejected(ctx context.Context, out io.Writer, b *app.Bridge, dir string, port int) (int, error) {
	fixedYAML := strings.ReplaceAll(configYAML(dir, port), "allowed_types: [", "allowed_types: [invoice.issued, ")
	fixed, err := config.Parse([]byte(fixedYAML))
	if err != nil {
		return 0, fmt.Errorf("demo replay config: %w", err)
	}
	chain, err := app.NewChain(fixed)
	if err != nil {
		return 0, fmt.Errorf("demo replay stages: %w", err)
	}
	store := dlq.NewStore(b.JetStream(), b.Topology())
	entries, err := store.List(ctx, dlq.Filter{Reasons: []string{bridge.ReasonTypeNotAllowed}})
	if err != nil {
		return 0, fmt.Errorf("demo replay: list dead letters: %w", err)
	}
	fmt.Fprintf(out, "\noperator: allow invoice.issued for every partner, then `dmzbridge dlq replay --reason type_not_allowed` (%d entries)\n", len(entries))
	r := dlq.Replayer{Store: store, Stages: chain.Intake, Stored: chain.Stored}
	replayed := 0
	for _, e := range entries {
		res, err := r.Replay(ctx, e)
		if err != nil {
			return replayed, fmt.Errorf("demo replay of entry %d: %w", e.Seq, err)
		}
		if res.Outcome == dlq.Replayed {
			replayed++
		}
	}
	return replayed, nil
}
