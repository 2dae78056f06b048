package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/cmd/dmzbridge/app"
)

func newDemoCmd() *cobra.Command {
	var perPartner int
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a self-contained demo: embedded JetStream, sample partners, an ERP consumer",
		Long: `Start the bridge on an embedded JetStream server in a temporary directory,
let three simulated partners publish sample events, print what the ERP
receives and end with a summary. Needs no broker and no configuration.`,
		Example: `  dmzbridge demo
  dmzbridge demo --events 1000 --verbose`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), perPartner, verbose)
		},
	}
	cmd.Flags().IntVar(&perPartner, "events", 200, "events each partner sends")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "show the bridge's log")
	return cmd
}

var demoPartners = []struct{ name, kind, eventType string }{
	{"bank-a", "jetstream", "payment.received"},
	{"logistics-b", "request", "shipment.dispatched"},
	{"dealer-c", "jetstream", "order.created"},
}

func demoConfig(dir string, port int) string {
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
partners:
`, dir, port, url)
	for _, p := range demoPartners {
		cfg += fmt.Sprintf("  - name: %s\n    inbound:\n      type: nats\n      options:\n        url: %s\n        subject: partners.%s.>\n", p.name, url, p.name)
		if p.kind == "jetstream" {
			cfg += "        stream: DEMO_PARTNERS\n"
		}
	}
	return cfg
}

func runDemo(ctx context.Context, out io.Writer, perPartner int, verbose bool) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "dmzbridge-demo-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return err
	}
	cfg, err := config.Parse([]byte(demoConfig(dir, port)))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	log := slog.New(slog.DiscardHandler)
	if verbose {
		log = newLogger(config.Log{Level: "info", Format: "text"})
	}
	counters := bridge.NewCounters()
	b, err := app.Start(ctx, cfg, app.Options{Logger: log, Observers: []bridge.Observer{counters}})
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
	if err := demoStreams(ctx, js); err != nil {
		return err
	}
	var arrived atomic.Int64
	erp, err := nc.Subscribe("erp.events.>", func(m *nats.Msg) {
		n := arrived.Add(1)
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
	sent, err := demoPublish(ctx, nc, js, perPartner)
	if err != nil {
		stopBridge()
		<-runDone
		return err
	}
	want := int64(sent)
	for arrived.Load() < want && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	stopBridge()
	if err := <-runDone; err != nil {
		return err
	}
	t := counters.Total()
	fmt.Fprintf(out, "\nsummary: sent %d, received %d, stored %d, forwarded %d, dead-lettered %d, arrived at ERP %d\n",
		sent, t.Received, t.Stored, t.Forwarded, t.DeadLettered, arrived.Load())
	if arrived.Load() < want {
		return fmt.Errorf("only %d of %d events reached the ERP before the demo timed out", arrived.Load(), want)
	}
	return nil
}

func demoStreams(ctx context.Context, js jetstream.JetStream) error {
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

func demoPublish(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, perPartner int) (int, error) {
	sent := 0
	for i := range perPartner {
		for _, p := range demoPartners {
			body, _ := json.Marshal(map[string]any{"seq": i, "partner_ref": fmt.Sprintf("%s-%06d", p.name, i), "amount": 100 + i})
			m := nats.NewMsg("partners." + p.name + "." + p.eventType)
			m.Data = body
			m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("%s-%06d", p.name, i))
			m.Header.Set("Event-Type", p.eventType)
			switch p.kind {
			case "jetstream":
				if _, err := js.PublishMsg(ctx, m); err != nil {
					return sent, fmt.Errorf("partner %s publish: %w", p.name, err)
				}
			default:
				reply, err := requestWithRetry(ctx, nc, m)
				if err != nil {
					return sent, fmt.Errorf("partner %s request: %w", p.name, err)
				}
				if string(reply.Data) != "+OK" {
					return sent, fmt.Errorf("partner %s: bridge answered %q", p.name, reply.Data)
				}
			}
			sent++
		}
	}
	return sent, nil
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
