// Package deploy_test checks the deployment artifacts without a container
// engine or a cluster: every YAML file parses, every file a compose service,
// manifest or Dockerfile refers to exists, the manifests keep the properties
// the design relies on (replicas, probes, one-way network policy), and every
// example config passes the same check as `dmzbridge config check`.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/dmzbridge/dmzbridge/bridge/app"
	"github.com/dmzbridge/dmzbridge/bridge/config"

	// The connectors the example configs use: each registers itself.
	_ "github.com/dmzbridge/dmzbridge/connectors/amqp"
	_ "github.com/dmzbridge/dmzbridge/connectors/kafka"
	_ "github.com/dmzbridge/dmzbridge/connectors/nats"
)

// readYAMLDocs parses every document of a YAML file into generic maps.
func readYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML document", path)
	}
	return docs
}

// dig walks nested maps and lists: dig(doc, "spec", "template", 0 …).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func mustExist(t *testing.T, what, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("%s refers to %s, which does not exist: %v", what, path, err)
	}
}

// checkConfig runs what `dmzbridge config check` runs, from the repository
// root as CI does (schemas_dir defaults to "schemas" there). It changes the
// test's working directory until the test ends: read files before.
func checkConfig(t *testing.T, name string, raw []byte) *config.Config {
	t.Helper()
	t.Chdir("..")
	cfg, err := config.Parse(raw)
	if err == nil {
		err = app.Check(cfg, app.Registry())
	}
	if err != nil {
		t.Fatalf("%s does not pass config check:\n%v", name, err)
	}
	return cfg
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// unsetReferencedEnv makes the check independent of the caller's
// environment: CI runs it without any secrets.
func unsetReferencedEnv(t *testing.T, raw []byte) {
	for _, m := range envRef.FindAllSubmatch(raw, -1) {
		name := string(m[1])
		t.Setenv(name, "") // restores the original value after the test
		os.Unsetenv(name)
	}
}

func TestExampleConfigsPassCheck(t *testing.T) {
	files, err := filepath.Glob("config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"config/bank.yaml", "config/logistics.yaml", "config/dealer-portal.yaml", "config/local-stack.yaml"} {
		if !slices.Contains(files, want) {
			t.Errorf("missing example config %s (have %v)", want, files)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			unsetReferencedEnv(t, raw)
			cfg := checkConfig(t, f, raw)
			if filepath.Base(f) == "local.yaml" {
				return // the quick start's single local NATS server; integration_test runs it
			}
			// The examples are for replicated clusters: R3 and every node
			// fsyncing, never relaxed.
			if cfg.JetStream.Durability != config.DurabilityReplicated || cfg.JetStream.Replicas != 3 {
				t.Errorf("%s: durability %s with %d replicas, want replicated with 3", f, cfg.JetStream.Durability, cfg.JetStream.Replicas)
			}
			if cfg.JetStream.Embedded {
				t.Errorf("%s: examples run against a JetStream cluster, not the embedded server", f)
			}
		})
	}
}

func TestComposeStack(t *testing.T) {
	doc := readYAMLDocs(t, "docker-compose.yml")[0]
	services, _ := doc["services"].(map[string]any)
	for _, want := range []string{"rabbitmq", "kafka", "nats-1", "nats-2", "nats-3", "bridge-1", "bridge-2", "prometheus", "grafana"} {
		if services[want] == nil {
			t.Errorf("compose: service %s missing", want)
		}
	}
	// Kafka runs without ZooKeeper.
	if roles := str(dig(services, "kafka", "environment", "KAFKA_PROCESS_ROLES")); !strings.Contains(roles, "controller") {
		t.Errorf("compose: kafka is not in KRaft mode (KAFKA_PROCESS_ROLES=%q)", roles)
	}
	for name, svc := range services {
		for _, v := range list(dig(svc, "volumes")) {
			src, _, _ := strings.Cut(str(v), ":")
			if strings.HasPrefix(src, ".") {
				mustExist(t, "compose service "+name, src)
			}
		}
		if b := dig(svc, "build"); b != nil {
			ctx := str(dig(b, "context"))
			mustExist(t, "compose service "+name+" build context", ctx)
			mustExist(t, "compose service "+name+" dockerfile", filepath.Join(ctx, str(dig(b, "dockerfile"))))
		}
	}
	// Every node of the cluster fsyncs each write (durability replicated).
	natsConf, err := os.ReadFile("compose/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*sync_interval:\s*always\s*$`).Match(natsConf) {
		t.Error("compose/nats.conf: jetstream sync_interval: always missing")
	}
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		if !slices.ContainsFunc(list(dig(services, n, "volumes")), func(v any) bool { return strings.Contains(str(v), "nats.conf") }) {
			t.Errorf("compose: %s does not mount compose/nats.conf", n)
		}
	}
	// The bridges' config is the checked local-stack example.
	for _, b := range []string{"bridge-1", "bridge-2"} {
		if !slices.Contains(list(dig(services, b, "volumes")), any("./config/local-stack.yaml:/etc/dmzbridge/bridge.yaml:ro")) {
			t.Errorf("compose: %s does not run config/local-stack.yaml", b)
		}
	}

	// Prometheus scrapes both bridges on their admin port.
	prom := readYAMLDocs(t, "compose/prometheus.yml")[0]
	targets := list(dig(prom, "scrape_configs", 0, "static_configs", 0, "targets"))
	for _, want := range []string{"bridge-1:9180", "bridge-2:9180"} {
		if !slices.Contains(targets, any(want)) {
			t.Errorf("prometheus: target %s missing (have %v)", want, targets)
		}
	}
	for _, f := range []string{"compose/grafana/provisioning/datasources/prometheus.yml", "compose/grafana/provisioning/dashboards/dmzbridge.yml"} {
		readYAMLDocs(t, f)
	}
}

func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana/dmzbridge.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana/dmzbridge.json: %v", err)
	}
	var exprs strings.Builder
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs.WriteString(tg.Expr + "\n")
		}
	}
	// The DMZ signals the operators asked for.
	for _, metric := range []string{
		"dmzbridge_messages_forwarded_total", "dmzbridge_messages_dead_lettered_total",
		"dmzbridge_ingest_backlog", "dmzbridge_messages_retried_total",
		"dmzbridge_end_to_end_latency_seconds_bucket", "dmzbridge_certificate_expiry_timestamp_seconds",
	} {
		if !strings.Contains(exprs.String(), metric) {
			t.Errorf("dashboard has no panel on %s", metric)
		}
	}
}

func k8sDocs(t *testing.T) map[string]map[string]any {
	t.Helper()
	kust := readYAMLDocs(t, "k8s/kustomization.yaml")[0]
	byKind := map[string]map[string]any{}
	for _, r := range list(kust["resources"]) {
		path := filepath.Join("k8s", str(r))
		mustExist(t, "k8s/kustomization.yaml", path)
		for _, d := range readYAMLDocs(t, path) {
			if str(d["apiVersion"]) == "" || str(d["kind"]) == "" || str(dig(d, "metadata", "name")) == "" {
				t.Errorf("%s: a document lacks apiVersion, kind or metadata.name", path)
			}
			byKind[str(d["kind"])] = d
		}
	}
	for _, want := range []string{"Deployment", "ConfigMap", "NetworkPolicy", "Service", "PodDisruptionBudget"} {
		if byKind[want] == nil {
			t.Fatalf("k8s: no %s among the kustomization's resources", want)
		}
	}
	return byKind
}

func TestKubernetesManifests(t *testing.T) {
	docs := k8sDocs(t)
	readYAMLDocs(t, "k8s/secret.example.yaml")
	dep := docs["Deployment"]
	if n, _ := dig(dep, "spec", "replicas").(int); n < 2 {
		t.Errorf("deployment: %d replicas, want at least 2", n)
	}
	pod := dig(dep, "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := str(dig(c, probe, "httpGet", "path")); got != path {
			t.Errorf("deployment: %s path %q, want %q", probe, got, path)
		}
		if got := str(dig(c, probe, "httpGet", "port")); got != "admin" {
			t.Errorf("deployment: %s port %q, want the admin port", probe, got)
		}
	}
	if dig(pod, "securityContext", "runAsNonRoot") != true || dig(c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Error("deployment: must run as non-root with a read-only root filesystem")
	}

	// Volumes point at the ConfigMap and at Secrets (referenced, not stored).
	cm := docs["ConfigMap"]
	mounts := map[string]string{}
	for _, m := range list(dig(c, "volumeMounts")) {
		mounts[str(dig(m, "name"))] = str(dig(m, "mountPath"))
	}
	var secretRefs int
	for _, v := range list(dig(pod, "volumes")) {
		name := str(dig(v, "name"))
		if _, ok := mounts[name]; !ok {
			t.Errorf("deployment: volume %s is not mounted", name)
		}
		if ref := str(dig(v, "configMap", "name")); ref != "" && ref != str(dig(cm, "metadata", "name")) {
			t.Errorf("deployment: volume %s refers to ConfigMap %s, not in the manifests", name, ref)
		}
		if dig(v, "secret", "secretName") != nil {
			secretRefs++
		}
	}
	for _, e := range list(dig(c, "env")) {
		if dig(e, "valueFrom", "secretKeyRef") != nil {
			secretRefs++
		}
	}
	if secretRefs == 0 {
		t.Error("deployment: no Secret references")
	}

	// The ConfigMap's config passes the check, and every file it names lies
	// in a directory the pod mounts.
	bridgeYAML := str(dig(cm, "data", "bridge.yaml"))
	// The image ships the schemas where the ConfigMap expects them.
	const imageSchemas = "/opt/dmzbridge/schemas"
	if df, err := os.ReadFile("Dockerfile"); err != nil || !strings.Contains(string(df), imageSchemas) {
		t.Errorf("Dockerfile does not install the schemas in %s (err %v)", imageSchemas, err)
	}
	if !strings.Contains(bridgeYAML, "schemas_dir: "+imageSchemas) {
		t.Errorf("k8s config: schemas_dir is not %s", imageSchemas)
	}
	checkYAML := strings.ReplaceAll(bridgeYAML, "schemas_dir: "+imageSchemas, "schemas_dir: schemas")
	for _, m := range envRef.FindAllStringSubmatch(bridgeYAML, -1) {
		t.Setenv(m[1], "from-secret")
	}
	cfg := checkConfig(t, "k8s/configmap.yaml bridge.yaml", []byte(checkYAML))
	if cfg.JetStream.Durability != config.DurabilityReplicated || cfg.JetStream.Replicas < 3 {
		t.Errorf("k8s config: durability %s, replicas %d; want replicated with 3", cfg.JetStream.Durability, cfg.JetStream.Replicas)
	}
	if !strings.HasPrefix(cfg.Admin.Listen, "0.0.0.0:9180") {
		t.Errorf("k8s config: admin.listen %s is not reachable by probes on the pod address", cfg.Admin.Listen)
	}
	files := regexp.MustCompile(`(?m)^\s*(?:ca|cert|key|credentials|schemas_dir|store_dir):\s*(/\S+)`).FindAllStringSubmatch(bridgeYAML, -1)
	if len(files) == 0 {
		t.Error("k8s config names no credential or certificate file; the check below would be empty")
	}
	for _, m := range files {
		f := m[1]
		if f == imageSchemas {
			continue
		}
		if !slices.ContainsFunc(slices.Collect(maps.Values(mounts)), func(dir string) bool { return strings.HasPrefix(f, dir+"/") }) {
			t.Errorf("k8s config names %s, but no volume is mounted there (mounts %v)", f, mounts)
		}
	}
}

// TestNetworkPolicyOneWay: ingress only to the metrics port; egress only to
// partner brokers, NATS, the ERP queue and DNS.
func TestNetworkPolicyOneWay(t *testing.T) {
	np := k8sDocs(t)["NetworkPolicy"]
	types := list(dig(np, "spec", "policyTypes"))
	if !slices.Contains(types, any("Ingress")) || !slices.Contains(types, any("Egress")) {
		t.Fatalf("networkpolicy: policyTypes %v must include Ingress and Egress (or egress is unrestricted)", types)
	}
	ingress := list(dig(np, "spec", "ingress"))
	if len(ingress) != 1 {
		t.Fatalf("networkpolicy: %d ingress rules, want exactly one (metrics)", len(ingress))
	}
	ports := list(dig(ingress[0], "ports"))
	if len(ports) != 1 || dig(ports[0], "port") != 9180 {
		t.Errorf("networkpolicy: ingress ports %v, want only 9180", ports)
	}
	var allowed []int
	for _, rule := range list(dig(np, "spec", "egress")) {
		if len(list(dig(rule, "to"))) == 0 {
			t.Errorf("networkpolicy: egress rule without destinations allows everything: %v", rule)
		}
		for _, p := range list(dig(rule, "ports")) {
			n, _ := dig(p, "port").(int)
			allowed = append(allowed, n)
		}
	}
	for _, p := range allowed {
		if !slices.Contains([]int{53, 4222, 5671, 9093}, p) {
			t.Errorf("networkpolicy: egress to port %d is not a broker, NATS, ERP or DNS port", p)
		}
	}
}

func TestDockerfileAndSystemd(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, want := range []string{"CGO_ENABLED=0", "distroless/static", "USER nonroot", "AS build"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// COPY sources (other than from the build stage) are relative to the
	// repository root, the build context.
	for _, m := range regexp.MustCompile(`(?m)^COPY\s+([^-\n][^\n]*)$`).FindAllStringSubmatch(df, -1) {
		fields := strings.Fields(m[1])
		for _, src := range fields[:len(fields)-1] {
			mustExist(t, "Dockerfile COPY", filepath.Join("..", src))
		}
	}

	unit, err := os.ReadFile("systemd/dmzbridge.service")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]map[string]string{}
	var cur string
	for _, line := range strings.Split(string(unit), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			cur = strings.Trim(line, "[]")
			sections[cur] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || cur == "" {
				t.Fatalf("systemd unit: cannot parse %q", line)
			}
			sections[cur][k] = v
		}
	}
	svc := sections["Service"]
	if !strings.Contains(svc["ExecStart"], "serve --config") || svc["User"] == "" || svc["User"] == "root" {
		t.Errorf("systemd unit: ExecStart %q, User %q; want serve --config as a non-root user", svc["ExecStart"], svc["User"])
	}
	if svc["RestartPreventExitStatus"] != "3" {
		t.Error("systemd unit: an invalid config (exit 3) must not restart in a loop")
	}
	if sections["Install"]["WantedBy"] == "" {
		t.Error("systemd unit: no [Install] WantedBy")
	}
}

// TestComposeERPQueue: the local stack's RabbitMQ defines the exchange the
// bridge's ERP sink publishes to, bound to a durable queue, so mandatory
// publishes are routed rather than returned and retried forever.
func TestComposeERPQueue(t *testing.T) {
	raw, err := os.ReadFile("config/local-stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	unsetReferencedEnv(t, raw)
	cfg := checkConfig(t, "local-stack.yaml", raw)
	var sink struct {
		Exchange string `yaml:"exchange"`
	}
	if err := cfg.ERP.Sink.Options.Decode(&sink); err != nil || sink.Exchange == "" {
		t.Fatalf("local stack ERP exchange: %q, %v", sink.Exchange, err)
	}
	var defs struct {
		Exchanges []struct{ Name, Type string }
		Queues    []struct {
			Name    string
			Durable bool
		}
		Bindings []struct {
			Source      string `json:"source"`
			Destination string `json:"destination"`
		}
	}
	b, err := os.ReadFile("deploy/compose/rabbitmq-definitions.json") // checkConfig moved to the repo root
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &defs); err != nil {
		t.Fatal(err)
	}
	durable := map[string]bool{}
	for _, q := range defs.Queues {
		durable[q.Name] = q.Durable
	}
	hasExchange := false
	for _, e := range defs.Exchanges {
		hasExchange = hasExchange || e.Name == sink.Exchange
	}
	bound := false
	for _, bd := range defs.Bindings {
		bound = bound || (bd.Source == sink.Exchange && durable[bd.Destination])
	}
	if !hasExchange || !bound {
		t.Fatalf("exchange %s defined %v, bound to a durable queue %v", sink.Exchange, hasExchange, bound)
	}
}
