package integration_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
	"github.com/dmzbridge/dmzbridge/bridge/config"
	"github.com/dmzbridge/dmzbridge/connectors/amqp/amqptest"
)

// jsCluster is a JetStream cluster of embedded nats-server instances on
// loopback ports, every node with sync_interval: always as the
// replicated durability mode requires.
type jsCluster struct {
	nodes []*server.Server
	urls  []string
}

func startJSCluster(t *testing.T, size int) *jsCluster {
	t.Helper()
	clientPorts, routePorts := make([]int, size), make([]int, size)
	routes := make([]string, size)
	for i := range size {
		clientPorts[i], routePorts[i] = bridgetest.FreePort(t), bridgetest.FreePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i])
	}
	c := &jsCluster{}
	for i := range size {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i+1)),
			SyncAlways: true,
			Cluster:    server.ClusterOpts{Name: "dmz-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs:     true,
			NoLog:      true,
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("cluster node %d: %v", i+1, err)
		}
		go srv.Start()
		c.nodes = append(c.nodes, srv)
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]))
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Shutdown()
			n.WaitForShutdown()
		}
	})
	for _, n := range c.nodes {
		if !n.ReadyForConnections(15 * time.Second) {
			t.Fatalf("cluster node %s not ready", n.Name())
		}
	}
	// R3 streams need a JetStream meta leader, elected once routes are up.
	eventually(t, 30*time.Second, "JetStream meta leader", func() (bool, string) {
		for _, n := range c.nodes {
			if n.JetStreamIsLeader() {
				return true, ""
			}
		}
		return false, "no meta leader yet"
	})
	return c
}

func (c *jsCluster) url() string { return strings.Join(c.urls, ",") }

// kill stops the node with the given server name; its store stays on disk.
func (c *jsCluster) kill(t *testing.T, name string) {
	t.Helper()
	for _, n := range c.nodes {
		if n.Name() == name {
			n.Shutdown()
			n.WaitForShutdown()
			return
		}
	}
	t.Fatalf("no cluster node named %q", name)
}

// erpByBridge records which bridge instance delivered each id to the ERP;
// each bridge publishes on its own ERP subject prefix.
type erpByBridge struct {
	mu   sync.Mutex
	seen map[string]bool
	by   map[string]int
	all  int
}

func (e *erpByBridge) add(subject, id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seen[id] = true
	e.by[strings.Split(subject, ".")[1]]++
	e.all++
}

func (e *erpByBridge) snapshot() (distinct int, by map[string]int, all int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	by = map[string]int{}
	for k, v := range e.by {
		by[k] = v
	}
	return len(e.seen), by, e.all
}

// clusterBridgeYAML is the config both replicas share, apart from the ERP
// subject prefix that tells the test who delivered what.
func clusterBridgeYAML(t *testing.T, clusterURL, erpURL, partnerURL, instance string, partners []string) string {
	var ps strings.Builder
	for _, p := range partners {
		fmt.Fprintf(&ps, `  - name: %s
    inbound:
      type: nats
      options:
        url: %s
        subject: %s.>
        stream: %s
        ack_wait: 5s
`, p, partnerURL, p, partnerStream(p))
	}
	return fmt.Sprintf(`environment: test
jetstream:
  url: %s
  durability: replicated
  replicas: 3
  stream_prefix: SCALE
forward:
  ack_wait: 5s
  retry_delay: 200ms
erp:
  type: nats
  options:
    url: %s
    subject: erp.%s.{partner}
    jetstream: true
partners:
%sadmin:
  listen: 127.0.0.1:%d
`, clusterURL, erpURL, instance, ps.String(), bridgetest.FreePort(t))
}

func partnerStream(p string) string { return "P_" + strings.ToUpper(strings.ReplaceAll(p, "-", "_")) }

const clusterChildEnv = "DMZ_CLUSTER_BRIDGE_CONFIG"

// TestClusterChildBridge is not a test of its own: TestClusterScaleOut runs
// the test binary again with this test selected to get a bridge in a
// separate process that it can SIGKILL.
func TestClusterChildBridge(t *testing.T) {
	path := os.Getenv(clusterChildEnv)
	if path == "" {
		t.Skip("child process of TestClusterScaleOut; runs only when it starts it")
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := app.Start(ctx, cfg, app.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fmt.Println("CHILD-BRIDGE-READY")
	if err := b.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// childBridge is a bridge in its own process.
type childBridge struct {
	cmd    *exec.Cmd
	output strings.Builder
	mu     sync.Mutex
}

func startChildBridge(t *testing.T, yaml string) *childBridge {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestClusterChildBridge$", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), clusterChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cb := &childBridge{cmd: cmd}
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		cb.mu.Lock()
		defer cb.mu.Unlock()
		return cb.output.Write(p)
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() || os.Getenv("DMZ_TEST_LOG") != "" {
			cb.mu.Lock()
			t.Logf("child bridge output:\n%s", cb.output.String())
			cb.mu.Unlock()
		}
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "CHILD-BRIDGE-READY") {
				close(ready)
				signalled = true
			}
			cb.mu.Lock()
			cb.output.WriteString(sc.Text() + "\n")
			cb.mu.Unlock()
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("child bridge did not start within 30 s")
	}
	return cb
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestClusterScaleOut runs two bridge replicas on a 3-node JetStream
// cluster with R3 streams (durability replicated). Both share the partner
// consumers and the forwarder consumers as work queues. Mid-stream the node
// leading the ingest stream is stopped, then one bridge is killed with
// SIGKILL; every event must still reach the ERP.
func TestClusterScaleOut(t *testing.T) {
	const perPartner = 3000
	partners := []string{"bank-a", "dealer-b"}
	total := perPartner * len(partners)

	cluster := startJSCluster(t, 3)
	partner := startNATS(t, "")
	_, pjs := partner.js(t)
	for _, p := range partners {
		createStream(t, pjs, partnerStream(p), p+".>")
	}
	erp := startNATS(t, "")
	enc, ejs := erp.js(t)
	createStream(t, ejs, "ERP", "erp.>")
	got := &erpByBridge{seen: map[string]bool{}, by: map[string]int{}}
	sub, err := enc.Subscribe("erp.>", func(m *nats.Msg) { got.add(m.Subject, m.Header.Get(nats.MsgIdHdr)) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	child := startChildBridge(t, clusterBridgeYAML(t, cluster.url(), erp.url(), partner.url(), "b", partners))
	inproc := startBridge(t, clusterBridgeYAML(t, cluster.url(), erp.url(), partner.url(), "a", partners), app.Options{})

	js := inproc.b.JetStream()
	ingest := inproc.b.Topology().IngestStream()
	info := streamInfo(t, js, ingest)
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("ingest stream is not R3 on the cluster: replicas=%d cluster=%+v", info.Config.Replicas, info.Cluster)
	}
	leader := info.Cluster.Leader
	// Every stream the bridge made (ingest, dead letters, audit, …) has
	// the configured 3 replicas.
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	streams := js.ListStreams(lctx)
	var bridgeStreams []string
	for si := range streams.Info() {
		if strings.HasPrefix(si.Config.Name, "SCALE_") {
			bridgeStreams = append(bridgeStreams, si.Config.Name)
			if si.Config.Replicas != 3 {
				t.Errorf("stream %s has %d replicas, want 3", si.Config.Name, si.Config.Replicas)
			}
		}
	}
	lcancel()
	if err := streams.Err(); err != nil {
		t.Fatalf("list streams: %v", err)
	}
	if len(bridgeStreams) < 2 {
		t.Fatalf("bridge streams on the cluster: %v, want at least ingest and dead letters", bridgeStreams)
	}
	t.Logf("ingest stream %s leader %s, followers %d; R3 streams %v", ingest, leader, len(info.Cluster.Replicas), bridgeStreams)

	start := time.Now()
	// The partners publish in three parts; each part waits until the fault
	// before it is in place, so both faults hit a flow with events still
	// to come by construction.
	pubDone := make(chan error, 1)
	nextPart := make(chan struct{}, 2) // buffered: a publisher that gave up never blocks the test
	go func() {
		for i := range perPartner {
			if i == perPartner/3 || i == 2*perPartner/3 {
				select {
				case <-nextPart:
				case <-time.After(3 * time.Minute):
					pubDone <- fmt.Errorf("partner publish: no go-ahead for the part after %d", i)
					return
				}
			}
			for _, p := range partners {
				m := nats.NewMsg(p + ".order.created")
				m.Header.Set(nats.MsgIdHdr, fmt.Sprintf("%s-%05d", p, i))
				m.Data = []byte(fmt.Sprintf(`{"seq":%d}`, i))
				if _, err := pjs.PublishMsgAsync(m); err != nil {
					pubDone <- fmt.Errorf("partner publish %s %d: %w", p, i, err)
					return
				}
			}
			if i%100 == 99 {
				time.Sleep(60 * time.Millisecond)
			}
		}
		select {
		case <-pjs.PublishAsyncComplete():
			pubDone <- nil
		case <-time.After(30 * time.Second):
			pubDone <- fmt.Errorf("partner publishes not acknowledged")
		}
	}()

	progress := func(frac float64) func() (bool, string) {
		return func() (bool, string) {
			n, by, _ := got.snapshot()
			return n >= int(frac*float64(total)), fmt.Sprintf("%d of %d, by bridge %v", n, total, by)
		}
	}
	eventually(t, 60*time.Second, "a quarter of the events at the ERP", progress(0.25))
	cluster.kill(t, leader)
	t.Logf("%v: stopped NATS node %s (ingest stream leader)", time.Since(start).Round(time.Millisecond), leader)
	nextPart <- struct{}{}

	// Which replica a shared pull consumer serves is up to the server, so
	// only b must be busy: killing it then matters, and a must take over.
	eventually(t, 60*time.Second, "bridge b forwarding and half the events at the ERP", func() (bool, string) {
		n, by, _ := got.snapshot()
		return n >= total/2 && by["b"] > 0, fmt.Sprintf("%d of %d, by bridge %v", n, total, by)
	})
	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL child bridge: %v", err)
	}
	_ = child.cmd.Wait()
	_, byBeforeKill, _ := got.snapshot()
	t.Logf("%v: SIGKILLed bridge b after it forwarded %d events", time.Since(start).Round(time.Millisecond), byBeforeKill["b"])
	nextPart <- struct{}{}

	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "every event at the ERP", progress(1))
	n, by, all := got.snapshot()
	if n != total {
		t.Fatalf("%d distinct ids at the ERP, want %d", n, total)
	}
	for _, p := range partners {
		for i := range perPartner {
			id := fmt.Sprintf("%s-%05d", p, i)
			got.mu.Lock()
			ok := got.seen[id]
			got.mu.Unlock()
			if !ok {
				t.Fatalf("id %s never reached the ERP", id)
			}
		}
	}
	after := streamInfo(t, js, ingest)
	if after.Cluster == nil || after.Cluster.Leader == "" || after.Cluster.Leader == leader {
		t.Fatalf("ingest stream leader after stopping %s: %+v", leader, after.Cluster)
	}
	t.Logf("%v: all %d events at the ERP (%d deliveries, %d duplicates with the same id); by bridge %v; new ingest leader %s",
		time.Since(start).Round(time.Millisecond), n, all, all-n, by, after.Cluster.Leader)
}

func streamInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	var info *jetstream.StreamInfo
	eventually(t, 30*time.Second, "stream info of "+name, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		info = s.CachedInfo()
		return info.Cluster != nil && info.Cluster.Leader != "", fmt.Sprintf("cluster %+v", info.Cluster)
	})
	return info
}

// TestScaleOutAMQPCompetingConsumers runs two bridge replicas on one AMQP
// partner queue (competing consumers) and one JetStream; the replica in its
// own process is killed with SIGKILL mid-stream, and RabbitMQ hands what it
// held unacknowledged to the survivor: every event reaches the ERP.
func TestScaleOutAMQPCompetingConsumers(t *testing.T) {
	const total = 4000
	conn := requireRabbit(t)
	p := newAMQPPartner(t, "bank-x", "topic", "payment.received")
	js := startNATS(t, "")
	erp := startNATS(t, "")
	enc, ejs := erp.js(t)
	createStream(t, ejs, "ERP", "erp.>")
	got := &erpByBridge{seen: map[string]bool{}, by: map[string]int{}}
	sub, err := enc.Subscribe("erp.>", func(m *nats.Msg) { got.add(m.Subject, m.Header.Get(nats.MsgIdHdr)) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	cfg := func(instance string) string {
		return fmt.Sprintf(`environment: test
jetstream:
  url: %s
  durability: fsync
  replicas: 1
  stream_prefix: AMQPSCALE
forward:
  ack_wait: 5s
  retry_delay: 200ms
erp:
  type: nats
  options:
    url: %s
    subject: erp.%s.{partner}
    jetstream: true
partners:
%s
admin:
  listen: 127.0.0.1:%d
`, js.url(), erp.url(), instance, p.yaml(rabbitURL), bridgetest.FreePort(t))
	}
	child := startChildBridge(t, cfg("b"))
	p.waitDeclared(t, conn)
	startBridge(t, cfg("a"), app.Options{})

	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	eventually(t, 30*time.Second, "two consumers on the partner queue", func() (bool, string) {
		q, err := ch.QueueDeclarePassive(p.queue, true, false, false, false, nil)
		if err != nil {
			return false, err.Error()
		}
		return q.Consumers == 2, fmt.Sprintf("%d consumers", q.Consumers)
	})

	ids := p.ids(total)
	pub := amqptest.NewPublisher(t, rabbitURL)
	for start := 0; start < total; start += 200 {
		p.publish(pub, ids[start:start+200])
		if start+200 == total/2 {
			eventually(t, 60*time.Second, "a quarter of the events at the ERP", func() (bool, string) {
				n, by, _ := got.snapshot()
				return n >= total/4, fmt.Sprintf("%d of %d, by bridge %v", n, total, by)
			})
			if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("SIGKILL child bridge: %v", err)
			}
			_ = child.cmd.Wait()
			n, by, _ := got.snapshot()
			t.Logf("SIGKILLed bridge b with %d of %d at the ERP (by bridge %v)", n, total, by)
		}
	}
	eventually(t, 90*time.Second, "every event at the ERP", func() (bool, string) {
		n, by, _ := got.snapshot()
		return n == total, fmt.Sprintf("%d of %d, by bridge %v", n, total, by)
	})
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, id := range ids {
		if !got.seen[id] {
			t.Fatalf("id %s never reached the ERP", id)
		}
	}
	t.Logf("all %d events at the ERP (%d deliveries); by bridge %v", total, got.all, got.by)
}
