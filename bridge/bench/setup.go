package bench

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/schemas"
)

func writeSchemas(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	return fs.WalkDir(schemas.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := schemas.FS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	})
}

// benchPayloads are valid order.created events of about size bytes with
// values the masking policy must replace.
func benchPayloads(size int) [][]byte {
	out := make([][]byte, 16)
	for i := range out {
		head := fmt.Sprintf(`{"order_id":"ORD-%06d","created_at":"2026-11-23T10:00:00Z","customer":{"customer_id":"C%d","name":"Dealer %d","email":"buyer%d@dealer.example","phone":"+33 1 5555 %04d","vat_id":"FR12345678901"},`+
			`"shipping_address":{"street":"1 Rue de la Paix","city":"Paris","postal_code":"75002","country":"FR"},"currency":"EUR","lines":[{"sku":"SKU-1","quantity":2,"unit_price":10.5,"description":"`, i, i, i, i, i)
		tail := `"}],"total":21,"payment":{"method":"sepa_debit","iban":"FR1420041010050500013M02606"}}`
		pad := max(0, size-len(head)-len(tail))
		out[i] = []byte(head + strings.Repeat("x", min(pad, 500)) + `"},{"sku":"SKU-2","quantity":1,"unit_price":0,"description":"` + strings.Repeat("y", max(0, pad-500-len(`"},{"sku":"SKU-2","quantity":1,"unit_price":0,"description":"`))) + tail)
	}
	return out
}

func benchConfig(storeDir, schemaDir, mode string, o Options, partnerURL, erpURL string) (*config.Config, error) {
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `environment: bench
schemas_dir: %s
admin: {listen: %q}
jetstream:
  embedded: true
  store_dir: %s
  listen: %q
  durability: %s
forward:
  batch_size: 512
  max_ack_pending: 8192
erp:
  type: nats
  options: {url: %q, subject: "erp.events.{partner}"}
partners:
`, schemaDir, admin, storeDir, listen, mode, erpURL)
	for p := range o.Partners {
		if o.kind() == KindAMQP {
			// The event type comes from the AMQP type property.
			fmt.Fprintf(&sb, `  - name: p%d
    inbound:
      type: amqp
      options: {url: %q, exchange: %q, queue: %q}
`, p, o.AMQPURL, amqpExchange(o.amqpPrefix(), p), amqpQueue(o.amqpPrefix(), p))
		} else {
			fmt.Fprintf(&sb, `  - name: p%d
    inbound:
      type: nats
      options: {url: %q, subject: "bench.p%d.>", stream: BENCH_IN, max_in_flight: 2048}
    event_type: {subject_from_token: 2}
`, p, partnerURL, p)
		}
		fmt.Fprintf(&sb, `    allowed_types: [order.created]
    max_message_bytes: 65536
    masking:
      policies:
        - fields:
            - {path: customer.email, action: redact}
            - {path: customer.phone, action: last4}
            - {path: payment.iban, action: last4}
`)
	}
	return config.Parse([]byte(sb.String()))
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startPlainNATS starts a partner or ERP server; with a store directory
// (inside the bench's own, so it is removed with it) it runs JetStream.
func startPlainNATS(storeDir string) (*server.Server, error) {
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true, MaxPayload: 8 << 20}
	if storeDir != "" {
		opts.JetStream = true
		opts.StoreDir = storeDir
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		return nil, fmt.Errorf("nats-server not ready")
	}
	return srv, nil
}
