package e2e

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// metricNames are the names a Prometheus text exposition defines, histogram series included.
func metricNames(text string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		out[name] = true
	}
	return out
}

var metricRef = regexp.MustCompile(`notestream_[a-z_]+`)

// TestDeployFiles checks deploy/: promtool accepts the alert rules, and every metric the rules and the
// Grafana dashboard name exists in a running consumer's /metrics or in the compactor's --metrics-file.
func TestDeployFiles(t *testing.T) {
	root := filepath.Join("..", "deploy")
	rules := filepath.Join(root, "prometheus", "alerts.yml")
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run scripts/setup.sh (Debian package prometheus)")
	}
	if out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	p := newPipeline(t, 40)
	// The topics exist before the consumer starts: one started first lists the end offsets of a
	// topic it never finds afterwards (kadm answers UNKNOWN_TOPIC_OR_PARTITION on every listing,
	// seen with kfake), and so exports no notestream_consumer_lag_records at all.
	run(t, p.producer, p.producerArgs("max")...)
	c := p.startConsumer(t)
	p.waitReplayed(t, c.api, 120*time.Second)
	resp, err := http.Get(c.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	names := metricNames(body.String())
	promFile := filepath.Join(p.dir, "compactor.prom")
	run(t, p.compactor, "run", "--brokers", p.kafka.Addr, "--lake", "file://"+filepath.Join(p.dir, "lake"), "--metrics-file", promFile)
	b, err := os.ReadFile(promFile)
	if err != nil {
		t.Fatal(err)
	}
	for n := range metricNames(string(b)) {
		names[n] = true
	}

	rulesText, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile(filepath.Join(root, "grafana", "notestream.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	used := map[string]bool{}
	for _, text := range append(exprs, string(rulesText)) {
		for _, n := range metricRef.FindAllString(text, -1) {
			used[n] = true
		}
	}
	if len(used) < 10 {
		t.Fatalf("deploy/ names only %d metrics: %v", len(used), used)
	}
	for _, n := range slices.Sorted(maps.Keys(used)) {
		if !names[n] {
			t.Errorf("deploy/ names %s, which neither the consumer's /metrics nor the compactor's metrics file has:\n%s", n, body.String())
		}
	}
}
