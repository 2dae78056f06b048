package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/dmzbridge/dmzbridge/bridge"
	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/audit"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/cloudevents"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/bridge/telemetry"
	"github.com/dmzbridge/dmzbridge/connectors/amqp/amqptest"
	kafkaconn "github.com/dmzbridge/dmzbridge/connectors/kafka"
	"github.com/dmzbridge/dmzbridge/connectors/kafka/kafkatest"
)

// reloadEnv is a bridge whose config file and schemas_dir a test rewrites
// and reloads, with partners on their own NATS server and the ERP on
// another.
type reloadEnv struct {
	t          *testing.T
	cfgPath    string
	schemasDir string
	partner    *natsServer
	pjs        jetstream.JetStream
	erp        *natsServer
	ejs        jetstream.JetStream
	rb         *runningBridge
	base       string // the config without its partners

	mu    sync.Mutex
	atERP map[string][]byte
	// arrivals are the ERP arrival times per partner, in order.
	arrivals map[string][]time.Time
}

func newReloadEnv(t *testing.T) *reloadEnv {
	e := &reloadEnv{t: t, atERP: map[string][]byte{}, arrivals: map[string][]time.Time{}}
	dir := t.TempDir()
	e.cfgPath = filepath.Join(dir, "bridge.yaml")
	e.schemasDir = filepath.Join(dir, "schemas")
	if err := os.MkdirAll(e.schemasDir, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "schemas", "order.created.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	e.writeSchema("order.created.v1.json", raw)

	e.partner = startNATS(t, "")
	_, e.pjs = e.partner.js(t)
	createStream(t, e.pjs, "RL_PARTNERS", "rl.>")
	e.erp = startNATS(t, "")
	enc, ejs := e.erp.js(t)
	e.ejs = ejs
	createStream(t, ejs, "RL_ERP", "erp.>")
	sub, err := enc.Subscribe("erp.>", func(m *nats.Msg) {
		ce, err := cloudevents.Parse(m.Data)
		e.mu.Lock()
		defer e.mu.Unlock()
		id := m.Header.Get(nats.MsgIdHdr)
		if _, dup := e.atERP[id]; !dup && err == nil {
			e.arrivals[ce.Source] = append(e.arrivals[ce.Source], time.Now())
		}
		e.atERP[id] = m.Data
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	erpYAML := fmt.Sprintf("type: nats\noptions:\n  url: %s\n  subject: erp.events.{partner}\n  jetstream: true\n", e.erp.url())
	e.base = strings.TrimSuffix(bridgeYAML(filepath.Join(dir, "js"), bridgetest.FreePort(t), erpYAML, "%PARTNERS%"), "\n") +
		"\nschemas_dir: " + e.schemasDir + "\n"
	return e
}

func (e *reloadEnv) writeSchema(name string, raw []byte) {
	if err := os.WriteFile(filepath.Join(e.schemasDir, name), raw, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// partnerYAML is one partner block; masking is the list of field rules.
func (e *reloadEnv) partnerYAML(name string, masking string) string {
	s := fmt.Sprintf(`  - name: %s
    inbound:
      type: nats
      options: {url: %s, subject: "rl.%s.>", stream: RL_PARTNERS, durable: rl-%s}
    allowed_types: [order.created]`, name, e.partner.url(), name, name)
	if masking != "" {
		s += "\n    masking:\n      policies:\n        - fields:\n" + masking
	}
	return s
}

func (e *reloadEnv) writeConfig(partners ...string) string {
	y := strings.Replace(e.base, "%PARTNERS%", strings.Join(partners, "\n"), 1)
	if err := os.WriteFile(e.cfgPath, []byte(y), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return y
}

// load is what serve gives the bridge to reload: the file read and checked
// as config check does.
func (e *reloadEnv) load() (*config.Config, error) {
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		return nil, err
	}
	if err := app.Check(cfg, app.Registry()); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (e *reloadEnv) start(yaml string) {
	e.rb = startBridge(e.t, yaml, app.Options{Reload: e.load})
}

// reload asks through the admin listener, as `dmzbridge reload` does.
func (e *reloadEnv) reload(operator string) (int, telemetry.ReloadStatus) {
	req, err := http.NewRequest(http.MethodPost, e.rb.b.AdminURL()+"/reload", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set(telemetry.OperatorHeader, operator)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("POST /reload: %v", err)
	}
	defer resp.Body.Close()
	var st telemetry.ReloadStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		e.t.Fatalf("reload answer: %v", err)
	}
	return resp.StatusCode, st
}

func rlOrder(id string, email string, note bool) string {
	extra := ""
	if note {
		extra = `,"gift_wrap":true`
	}
	return fmt.Sprintf(`{"order_id":%q,"created_at":"2026-11-23T10:00:00Z","customer":{"customer_id":"C1","name":"Dealer","email":%q},`+
		`"currency":"EUR","lines":[{"sku":"SKU-1","quantity":2,"unit_price":10.5}],"total":21%s}`, id, email, extra)
}

func (e *reloadEnv) publish(ctx context.Context, partner, id, body string) {
	m := nats.NewMsg("rl." + partner + ".in")
	m.Data = []byte(body)
	m.Header.Set(nats.MsgIdHdr, id)
	m.Header.Set("Event-Type", "order.created")
	if _, err := e.pjs.PublishMsg(ctx, m); err != nil {
		e.t.Fatalf("publish %s: %v", id, err)
	}
}

func (e *reloadEnv) deadLetters(ctx context.Context) map[string]*nats.Msg {
	out := map[string]*nats.Msg{}
	js := e.rb.b.JetStream()
	c, err := js.OrderedConsumer(ctx, e.rb.b.Topology().DeadLetterStream(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		e.t.Fatalf("dead-letter consumer: %v", err)
	}
	batch, err := c.FetchNoWait(10000)
	if err != nil {
		e.t.Fatalf("fetch dead letters: %v", err)
	}
	for m := range batch.Messages() {
		out[m.Headers().Get(bridge.HeaderOriginalID)] = &nats.Msg{Header: nats.Header(m.Headers()), Data: m.Data()}
	}
	return out
}

// waitAccounted waits until every id is at the ERP or dead-lettered and
// returns the dead letters.
func (e *reloadEnv) waitAccounted(ctx context.Context, ids map[string]bool) map[string]*nats.Msg {
	var dlq map[string]*nats.Msg
	eventually(e.t, 60*time.Second, "every event at the ERP or dead-lettered", func() (bool, string) {
		dlq = e.deadLetters(ctx)
		e.mu.Lock()
		defer e.mu.Unlock()
		missing := 0
		for id := range ids {
			_, fwd := e.atERP[id]
			_, dl := dlq[id]
			if !fwd && !dl {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d not accounted for", missing, len(ids))
	})
	return dlq
}

const rlMaskRedact = "            - {path: customer.email, action: redact}\n"
const rlMaskDrop = "            - {path: customer.email, action: drop}\n"

// TestReloadUnderLoad reloads a running bridge while NATS, AMQP and Kafka
// partners send: it adds
// a partner, removes one, changes one partner's masking and ships a new
// (compatible) schema version. Every event is forwarded once or
// dead-lettered with a reason, events judged after the reload follow the
// new rules, and the unchanged partner flows on.
func TestReloadUnderLoad(t *testing.T) {
	conn := requireRabbit(t)
	e := newReloadEnv(t)
	// An AMQP and a Kafka partner send through the reload, unchanged.
	ap := newAMQPPartner(t, "amqpco", "direct", "orders")
	const topic = "rl-orders"
	kc := startKfake(t, topic)
	typed := "\n    allowed_types: [order.created]"
	amqpYAML := ap.yaml(rabbitURL) + typed
	kafkaYAML := strings.TrimRight(kafkaPartnerYAML("kafkaco", kc.Brokers, topic, ""), "\n ") + typed
	e.start(e.writeConfig(
		e.partnerYAML("steady", ""),
		e.partnerYAML("masky", rlMaskRedact),
		e.partnerYAML("leaver", ""),
		amqpYAML, kafkaYAML,
	))
	ap.waitDeclared(t, conn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ids := map[string]bool{}
	var idsMu sync.Mutex
	record := func(id string) {
		idsMu.Lock()
		ids[id] = true
		idsMu.Unlock()
	}
	// Phase 1, under the old rules: "gift_wrap" is not in order.created v1,
	// so those events are dead-lettered as schema_invalid.
	for i := range 40 {
		for _, p := range []string{"steady", "masky", "leaver"} {
			id := fmt.Sprintf("%s-a%03d", p, i)
			e.publish(ctx, p, id, rlOrder(id, fmt.Sprintf("%s%d@dealer.example", p, i), i%10 == 0))
			record(id)
		}
	}
	phase1 := map[string]bool{}
	for id := range ids {
		phase1[id] = true
	}
	e.waitAccounted(ctx, phase1)
	// The newcomer sends before it is configured: its events wait in its
	// broker and are taken in once the reload starts it.
	for i := range 30 {
		id := fmt.Sprintf("newbie-a%03d", i)
		e.publish(ctx, "newbie", id, rlOrder(id, "n@dealer.example", false))
		record(id)
	}

	// Load from the partner that does not change, and from the one that
	// is removed, through the reload.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var loadWG sync.WaitGroup
	var leaverSent []string // only the leaver goroutine appends
	for _, p := range []string{"steady", "leaver", "masky"} {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				id := fmt.Sprintf("%s-l%05d", p, i)
				e.publish(ctx, p, id, rlOrder(id, "s@dealer.example", false))
				if p == "leaver" {
					leaverSent = append(leaverSent, id)
				} else {
					record(id)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	amqpPub := amqptest.NewPublisher(t, rabbitURL)
	kafkaPub := kafkatest.NewPublisher(t, kc.Brokers, topic, nil)
	loadWG.Add(2)
	go func() {
		defer loadWG.Done()
		for i := 0; loadCtx.Err() == nil; i += 5 {
			msgs := make([]amqp.Publishing, 5)
			for j := range msgs {
				id := fmt.Sprintf("amqpco-l%05d", i+j)
				msgs[j] = amqp.Publishing{MessageId: id, ContentType: "application/json", Type: "order.created",
					Headers: amqp.Table{"Event-Type": "order.created"}, Body: []byte(rlOrder(id, "a@dealer.example", false))}
				record(id)
			}
			amqpPub.Publish(ap.exchange, ap.routingKey, msgs)
			time.Sleep(25 * time.Millisecond)
		}
	}()
	go func() {
		defer loadWG.Done()
		offsets := make([]int64, kafkaPartitions)
		for i := 0; loadCtx.Err() == nil; i += 5 {
			recs := make([]kafkatest.Record, 5)
			for j := range recs {
				p := (i + j) % kafkaPartitions
				id := kafkaconn.RecordID(topic, p, offsets[p])
				offsets[p]++
				recs[j] = kafkatest.Record{Partition: p, Key: fmt.Sprintf("k%d", i+j),
					Value: []byte(rlOrder(fmt.Sprintf("K-%05d", i+j), "k@dealer.example", false)), Headers: map[string]string{"Event-Type": "order.created"}}
				record(id)
			}
			kafkaPub.Publish(t, recs)
			time.Sleep(25 * time.Millisecond)
		}
	}()
	// The reload comes once every unchanged partner flows, so their
	// normal pace is measured before it.
	eventually(t, 60*time.Second, "every unchanged partner flowing", func() (bool, string) {
		e.mu.Lock()
		defer e.mu.Unlock()
		state := ""
		ok := true
		for _, p := range []string{"steady", "amqpco", "kafkaco"} {
			n := len(e.arrivals[p])
			ok = ok && n >= 20
			state += fmt.Sprintf("%s %d; ", p, n)
		}
		return ok, state
	})

	// The new config: newbie added, leaver removed, masky's masking
	// changed; and order.created v2 with an optional gift_wrap (compatible).
	v1, err := os.ReadFile(filepath.Join(e.schemasDir, "order.created.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := bytes.Replace(v1, []byte(`"partner": {"type": "string"},`), []byte(`"partner": {"type": "string"},
    "gift_wrap": {"type": "boolean"},`), 1)
	v2 = bytes.Replace(v2, []byte("order.created/v1.json"), []byte("order.created/v2.json"), 1)
	if bytes.Equal(v1, v2) {
		t.Fatal("v2 not derived from v1")
	}
	e.writeSchema("order.created.v2.json", v2)
	e.writeConfig(
		e.partnerYAML("steady", ""),
		// masky's connector changes too (its rate limit), so its source
		// restarts under load.
		strings.Replace(e.partnerYAML("masky", rlMaskDrop), "    allowed_types:", "    rate_limit: {per_second: 5000, burst: 100}\n    allowed_types:", 1),
		e.partnerYAML("newbie", ""),
		amqpYAML, kafkaYAML,
	)
	reloadAt := time.Now()
	code, st := e.reload("alice")
	reloadDone := time.Now()
	if code != http.StatusOK || st.Outcome != telemetry.ReloadApplied {
		t.Fatalf("reload: %d %+v", code, st)
	}
	for _, want := range []string{"added newbie", "removed leaver", "connector masky", "policy masky", "schemas changed"} {
		if !strings.Contains(st.Changes, want) {
			t.Errorf("reload changes %q lack %q", st.Changes, want)
		}
	}
	if strings.Contains(st.Changes, "steady") {
		t.Errorf("reload touched the unchanged partner: %s", st.Changes)
	}

	// Phase 2, under the new rules.
	after := map[string]bool{}
	for i := range 40 {
		for _, p := range []string{"masky", "newbie"} {
			id := fmt.Sprintf("%s-b%03d", p, i)
			e.publish(ctx, p, id, rlOrder(id, fmt.Sprintf("%s%d@dealer.example", p, i), i%10 == 0))
			record(id)
			after[id] = true
		}
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	loadWG.Wait()

	idsMu.Lock()
	all := make(map[string]bool, len(ids))
	for id := range ids {
		all[id] = true
	}
	idsMu.Unlock()
	dlq := e.waitAccounted(ctx, all)

	e.mu.Lock()
	defer e.mu.Unlock()
	for id := range all {
		body, fwd := e.atERP[id]
		dl, dead := dlq[id]
		if fwd && dead {
			t.Errorf("%s both forwarded and dead-lettered", id)
		}
		note := strings.HasSuffix(id, "0") && (phase1[id] || after[id])
		switch {
		case dead:
			// Only the notes judged by v1, before the reload, may be
			// dead-lettered.
			if !note || !phase1[id] {
				t.Errorf("%s dead-lettered (%s: %s), want forwarded", id, dl.Header.Get(bridge.HeaderReason), dl.Header.Get(bridge.HeaderError))
			} else if r := dl.Header.Get(bridge.HeaderReason); r != bridge.ReasonSchemaInvalid {
				t.Errorf("%s dead-lettered as %s, want %s", id, r, bridge.ReasonSchemaInvalid)
			}
		case fwd:
			if note && phase1[id] {
				t.Errorf("%s forwarded with a gift_wrap v1 does not allow", id)
			}
			ce, err := cloudevents.Parse(body)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if strings.HasPrefix(id, "masky-") {
				hasEmail := bytes.Contains(ce.Data, []byte(`"email"`))
				if bytes.Contains(ce.Data, []byte("@dealer.example")) {
					t.Errorf("%s reached the ERP with the email in clear: %s", id, ce.Data)
				}
				if after[id] && hasEmail {
					t.Errorf("%s judged after the reload still has the email field (the new rule drops it): %s", id, ce.Data)
				}
				if phase1[id] && !hasEmail {
					t.Errorf("%s judged before the reload lost its email field (the old rule redacts it): %s", id, ce.Data)
				}
			}
		}
	}
	// The removed partner drained: what it took in reached the ERP, and
	// what it did not take in still waits in its broker, for its durable.
	leaverFwd := 0
	for _, id := range leaverSent {
		if _, ok := e.atERP[id]; ok {
			leaverFwd++
		}
	}
	pc, err := e.pjs.Consumer(ctx, "RL_PARTNERS", "rl-leaver")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := pc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waiting := int(ci.NumPending) + ci.NumAckPending
	if leaverFwd == 0 || leaverFwd+waiting != len(leaverSent) {
		t.Errorf("removed partner: sent %d under load, %d forwarded + %d waiting in its broker", len(leaverSent), leaverFwd, waiting)
	}
	// Notes judged by v1 before the reload are dead letters, those after
	// it are forwarded.
	for _, id := range []string{"steady-a000", "masky-a010", "leaver-a020"} {
		if _, ok := dlq[id]; !ok {
			t.Errorf("%s (gift_wrap under v1) not dead-lettered", id)
		}
	}
	for _, id := range []string{"masky-b000", "newbie-b010"} {
		if _, ok := e.atERP[id]; !ok {
			t.Errorf("%s (gift_wrap under v2) not forwarded", id)
		}
	}
	// Forwarded once: the ERP stream deduplicates by id, so it holds one
	// message per forwarded id, and the ids match.
	info, err := e.ejs.Stream(ctx, "RL_ERP")
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int(si.State.Msgs) != len(e.atERP) {
		t.Errorf("ERP stream holds %d messages for %d forwarded ids", si.State.Msgs, len(e.atERP))
	}
	// The unchanged partners' flow: their largest gap between arrivals
	// around the reload, against the normal gap before it. A pause means
	// a partner was stopped; a forward batch of its own latency is not.
	// The bound is generous for a shared machine (and -race).
	for _, p := range []string{"steady", "amqpco", "kafkaco"} {
		var worst, normal time.Duration
		arr := e.arrivals[p]
		for i := 1; i < len(arr); i++ {
			gap := arr[i].Sub(arr[i-1])
			if arr[i].Before(reloadAt.Add(-100 * time.Millisecond)) {
				normal = max(normal, gap)
			} else if arr[i-1].Before(reloadDone.Add(2 * time.Second)) {
				worst = max(worst, gap)
			}
		}
		t.Logf("partner %s: %d forwarded, largest gap %v around the reload (%v before it)", p, len(arr), worst, normal)
		if len(arr) == 0 || worst > 2*time.Second+2*normal {
			t.Errorf("unchanged partner %s paused %v during the reload", p, worst)
		}
	}
	t.Logf("sent %d, forwarded %d, dead-lettered %d; reload took %v", len(all), len(e.atERP), len(dlq), reloadDone.Sub(reloadAt))

	recs, err := audit.Query(ctx, e.rb.b.JetStream(), e.rb.b.Topology(), audit.Filter{Action: audit.ActionReload})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		// The audit writer batches; give it its flush interval.
		time.Sleep(time.Second)
		recs, _ = audit.Query(ctx, e.rb.b.JetStream(), e.rb.b.Topology(), audit.Filter{Action: audit.ActionReload})
	}
	if len(recs) != 1 || recs[0].Outcome != telemetry.ReloadApplied || !strings.Contains(recs[0].Operator, "alice") ||
		!strings.Contains(recs[0].Changes, "added newbie") {
		t.Errorf("audit trail of the reload: %+v", recs)
	}
}

// TestReloadRefused gives reload an invalid config, a change that needs a
// restart and an incompatible schema version, each together with changes
// that would be valid (a new partner, new masking): every reload is
// refused with its reason, and the running bridge is unchanged.
func TestReloadRefused(t *testing.T) {
	e := newReloadEnv(t)
	good := e.writeConfig(e.partnerYAML("masky", rlMaskRedact))
	e.start(good)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	n := 0
	send := func() string {
		id := fmt.Sprintf("masky-%03d", n)
		n++
		e.publish(ctx, "masky", id, rlOrder(id, "m@dealer.example", false))
		return id
	}
	// checkUnchanged: masky's events still follow the old masking (email
	// redacted, not dropped), and the partner the refused config added
	// never started.
	checkUnchanged := func(step string) {
		id := send()
		e.waitAccounted(ctx, map[string]bool{id: true})
		e.mu.Lock()
		body, ok := e.atERP[id]
		e.mu.Unlock()
		if !ok {
			t.Fatalf("%s: %s not forwarded", step, id)
		}
		ce, err := cloudevents.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(ce.Data, []byte(`"email"`)) || bytes.Contains(ce.Data, []byte("m@dealer.example")) {
			t.Errorf("%s: masking changed: %s", step, ce.Data)
		}
		if _, err := e.pjs.Consumer(ctx, "RL_PARTNERS", "rl-newbie"); err == nil {
			t.Errorf("%s: the refused partner newbie was started", step)
		}
	}
	checkUnchanged("before")

	valid := []string{e.partnerYAML("masky", rlMaskDrop), e.partnerYAML("newbie", "")}
	steps := []struct {
		name    string
		prepare func()
		want    string
	}{
		{"invalid config", func() {
			y := strings.Replace(e.writeConfig(valid...), "retry_delay: 200ms", "retry_delay: 200ms\n  batch_sise: 5", 1)
			if err := os.WriteFile(e.cfgPath, []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "batch_sise"},
		{"needs restart", func() {
			y := strings.Replace(e.writeConfig(valid...), "retry_delay: 200ms", "retry_delay: 300ms", 1)
			if err := os.WriteFile(e.cfgPath, []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "forward cannot change while the bridge runs"},
		{"incompatible schema", func() {
			e.writeConfig(valid...)
			v1, err := os.ReadFile(filepath.Join(e.schemasDir, "order.created.v1.json"))
			if err != nil {
				t.Fatal(err)
			}
			v2 := bytes.Replace(v1, []byte(`"required": ["order_id", "created_at", "customer", "currency", "lines", "total"]`),
				[]byte(`"required": ["order_id", "created_at", "customer", "currency", "lines", "total", "payment"]`), 1)
			v2 = bytes.Replace(v2, []byte("order.created/v1.json"), []byte("order.created/v2.json"), 1)
			if bytes.Equal(v1, v2) {
				t.Fatal("v2 not derived from v1")
			}
			e.writeSchema("order.created.v2.json", v2)
		}, "/required"},
	}
	for _, s := range steps {
		s.prepare()
		code, st := e.reload("bob")
		if code != http.StatusConflict || st.Outcome != telemetry.ReloadRefused || !strings.Contains(st.Error, s.want) ||
			!strings.Contains(st.Error, "nothing changed") {
			t.Fatalf("%s: reload answered %d %+v, want refused naming %q", s.name, code, st, s.want)
		}
		t.Logf("%s: %s", s.name, st.Error)
		checkUnchanged(s.name)
	}

	// /status and /metrics report the last reload.
	resp, err := http.Get(e.rb.b.AdminURL() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var status telemetry.Status
	err = json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if status.LastReload == nil || status.LastReload.Outcome != telemetry.ReloadRefused || !strings.Contains(status.LastReload.Error, "/required") {
		t.Errorf("status last_reload: %+v", status.LastReload)
	}
	resp, err = http.Get(e.rb.b.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	_, _ = metrics.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`dmzbridge_reload_total{environment="test",outcome="refused"} 3`, `dmzbridge_config_last_reload_success{environment="test"} 0`} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Fixing the schema makes the same reload go through.
	if err := os.Remove(filepath.Join(e.schemasDir, "order.created.v2.json")); err != nil {
		t.Fatal(err)
	}
	if code, st := e.reload("bob"); code != http.StatusOK {
		t.Fatalf("valid reload refused: %+v", st)
	}
	id := send()
	e.waitAccounted(ctx, map[string]bool{id: true})
	e.mu.Lock()
	body := e.atERP[id]
	e.mu.Unlock()
	if ce, err := cloudevents.Parse(body); err != nil || bytes.Contains(ce.Data, []byte(`"email"`)) {
		t.Errorf("after the valid reload the email is not dropped: %s", body)
	}

	time.Sleep(time.Second) // the audit writer's flush interval
	recs, err := audit.Query(ctx, e.rb.b.JetStream(), e.rb.b.Topology(), audit.Filter{Action: audit.ActionReload})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, r := range recs {
		outcomes = append(outcomes, r.Outcome+"/"+r.Reason)
	}
	want := "refused/invalid_config refused/needs_restart refused/incompatible_schema applied/"
	if strings.Join(outcomes, " ") != want {
		t.Errorf("audit trail of reloads: %q, want %q", strings.Join(outcomes, " "), want)
	}
}
