package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// promtool returns promtool's path; missing, it fails under CI (where
// deploy/dev/brokers.sh installs it) and skips elsewhere.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		msg := "promtool is not installed (Debian package prometheus); run deploy/dev/brokers.sh"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRulesPromtool: the rules are valid and their unit tests pass.
func TestAlertRulesPromtool(t *testing.T) {
	runPromtool(t, "check", "rules", "prometheus/alerts.yml")
	runPromtool(t, "test", "rules", "prometheus/alerts_test.yml")
}

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `yaml:"alert"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestAlertRulesCovered: every alert has a severity, a summary and a
// runbook entry that exists, and its unit tests show it both firing and
// not firing; the compose stack's Prometheus loads the rules.
func TestAlertRulesCovered(t *testing.T) {
	var rules ruleFile
	readYAML(t, "prometheus/alerts.yml", &rules)
	var tests ruleTests
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	runbook, err := os.ReadFile("prometheus/RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\S+)$`).FindAllStringSubmatch(string(runbook), -1) {
		anchors[strings.ToLower(m[1])] = true
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", r.Alert)
			}
			const prefix = "deploy/prometheus/RUNBOOK.md#"
			rb := r.Annotations["runbook"]
			if !strings.HasPrefix(rb, prefix) || !anchors[strings.TrimPrefix(rb, prefix)] {
				t.Errorf("%s: runbook %q is not a heading of RUNBOOK.md", r.Alert, rb)
			}
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("%s: unit tests show it firing %v, not firing %v; want both", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert rules")
	}
	prom := readYAMLDocs(t, "compose/prometheus.yml")[0]
	if files := list(prom["rule_files"]); len(files) == 0 {
		t.Error("compose/prometheus.yml loads no rule_files")
	}
}

// TestDashboardQueriesParse hands every dashboard query to promtool as a
// recording rule (Grafana's variables replaced by values), so a typo in a
// query fails here rather than as an empty panel.
func TestDashboardQueriesParse(t *testing.T) {
	bin := promtool(t)
	files, err := filepath.Glob("grafana/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$environment", "prod", "$partner", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Panels []struct {
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range dash.Panels {
			for _, tg := range p.Targets {
				q, err := json.Marshal(vars.Replace(tg.Expr))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "      - record: dashboard:q%d\n        expr: %s\n", n, q)
				n++
			}
		}
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("dashboard queries: %v\n%s\n%s", err, out, b.String())
	}
}
