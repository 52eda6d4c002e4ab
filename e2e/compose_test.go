package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/notestream/notestream/internal/testenv"
)

// compose is the part of the Compose file format this file uses; unknown keys fail the parse, so a
// misspelt key is caught.
type compose struct {
	Name      string             `yaml:"name"`
	Extension any                `yaml:"x-notestream"`
	Services  map[string]service `yaml:"services"`
	Volumes   map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string                       `yaml:"image"`
	Build       any                          `yaml:"build"`
	Command     []string                     `yaml:"command"`
	Entrypoint  []string                     `yaml:"entrypoint"`
	Environment map[string]string            `yaml:"environment"`
	Ports       []string                     `yaml:"ports"`
	Expose      []string                     `yaml:"expose"`
	Volumes     []string                     `yaml:"volumes"`
	DependsOn   map[string]map[string]string `yaml:"depends_on"`
	Healthcheck *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
	Restart string `yaml:"restart"`
}

// TestCompose checks docker-compose.yaml without a Docker engine: it parses, the services of the
// deployment exist, every reference (dependency, host:port, volume, binary, flag) points at something real.
func TestCompose(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("parse docker-compose.yaml: %v", err)
	}

	for _, name := range []string{"redpanda", "redis", "minio", "minio-init", "producer", "consumer", "compactor"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %q is missing", name)
		}
	}
	if redis := c.Services["redis"]; !slices.Contains(redis.Command, "--appendonly") ||
		redis.Command[slices.Index(redis.Command, "--appendonly")+1] != "yes" {
		t.Errorf("redis must run with --appendonly yes, command is %q", redis.Command)
	}
	for _, name := range []string{"redpanda", "redis", "minio", "consumer"} {
		if c.Services[name].Healthcheck == nil || len(c.Services[name].Healthcheck.Test) == 0 {
			t.Errorf("server %q has no healthcheck", name)
		}
	}

	hostPorts := map[string]string{}
	hostPort := regexp.MustCompile(`(?:^|//|@)([a-z][a-z0-9-]*):(\d+)`)
	for name, s := range c.Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("%s: neither image nor build", name)
		}
		for dep, cond := range s.DependsOn {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown service %q", name, dep)
				continue
			}
			switch cond["condition"] {
			case "service_healthy":
				if target.Healthcheck == nil {
					t.Errorf("%s waits for %s to be healthy, but it has no healthcheck", name, dep)
				}
			case "service_completed_successfully":
				if target.Restart != "" && target.Restart != "no" {
					t.Errorf("%s waits for %s to complete, but it restarts (%s)", name, dep, target.Restart)
				}
			case "service_started":
			default:
				t.Errorf("%s: depends_on %s has condition %q", name, dep, cond["condition"])
			}
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("%s: port %q should be 127.0.0.1:HOST:CONTAINER", name, p)
				continue
			}
			if other, dup := hostPorts[parts[1]]; dup {
				t.Errorf("host port %s published by %s and %s", parts[1], other, name)
			}
			hostPorts[parts[1]] = name
			if !slices.Contains(s.Expose, parts[2]) {
				t.Errorf("%s publishes container port %s but does not expose it", name, parts[2])
			}
		}
		// Every service:port named in the environment is a service exposing that port.
		for key, value := range s.Environment {
			for _, m := range hostPort.FindAllStringSubmatch(value, -1) {
				target, ok := c.Services[m[1]]
				if !ok {
					t.Errorf("%s: %s=%s names unknown host %q", name, key, value, m[1])
					continue
				}
				if !slices.Contains(target.Expose, m[2]) {
					t.Errorf("%s: %s=%s, but %s does not expose %s", name, key, value, m[1], m[2])
				}
				if _, ok := s.DependsOn[m[1]]; !ok {
					t.Errorf("%s uses %s (%s) without depending on it", name, m[1], key)
				}
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("%s mounts undeclared volume %q", name, src)
				}
			}
		}
	}

	// The notestream services run binaries that exist, configured by flags those binaries define.
	for name, s := range c.Services {
		if s.Build == nil {
			continue
		}
		bin, sub := program(root, s)
		if bin == "" {
			t.Errorf("%s: cannot tell which binary it runs", name)
			continue
		}
		if st, err := os.Stat(filepath.Join(root, "cmd", bin)); err != nil || !st.IsDir() {
			t.Errorf("%s runs %q, which is not a directory under cmd/", name, bin)
			continue
		}
		flags := flagNames(t, testenv.Binary(t, "./cmd/"+bin), sub)
		for key := range s.Environment {
			flag, ok := strings.CutPrefix(key, "NOTESTREAM_")
			if !ok {
				continue
			}
			flag = strings.ReplaceAll(strings.ToLower(flag), "_", "-")
			if !flags[flag] {
				t.Errorf("%s: %s sets --%s, which %s does not have", name, key, flag, bin)
			}
		}
	}

	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(dockerfile), "\nFROM "); n < 1 || !strings.Contains(string(dockerfile), "COPY --from=build") {
		t.Errorf("Dockerfile should be multi-stage (a build stage copied into the runtime stage)")
	}
	if !strings.Contains(string(dockerfile), "./cmd/...") {
		t.Errorf("Dockerfile does not build ./cmd/...")
	}
}

// program is the notestream binary a service runs and its subcommand, if any: from its command, or from
// the simple command of its sh -c entrypoint that names a directory under cmd/.
func program(root string, s service) (bin string, sub []string) {
	words := s.Command
	if len(s.Entrypoint) == 3 && s.Entrypoint[0] == "sh" && s.Entrypoint[1] == "-c" {
		words = nil
		for _, simple := range regexp.MustCompile(`;|&&|\|\||\||[{}()]|\bdo\b|\bthen\b`).Split(s.Entrypoint[2], -1) {
			w := strings.Fields(simple)
			if len(w) == 0 {
				continue
			}
			if st, err := os.Stat(filepath.Join(root, "cmd", w[0])); err == nil && st.IsDir() {
				words = w
				break
			}
		}
	}
	if len(words) == 0 {
		return "", nil
	}
	bin = words[0]
	if len(words) > 1 && regexp.MustCompile(`^[a-z]+$`).MatchString(words[1]) {
		sub = words[1:2] // a subcommand, such as compactor's run
	}
	return bin, sub
}

// flagNames runs bin [sub] -h and collects the flags the standard flag package lists.
func flagNames(t *testing.T, bin string, sub []string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(bin, append(sub, "-h")...).CombinedOutput() // -h exits 0 or 2 depending on the binary
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("%s %v -h listed no flags:\n%s", bin, sub, out)
	}
	return flags
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}
