package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/testenv"
)

// TestREADMEDiagrams checks that the README's Mermaid blocks are the sources in diagrams/, in order.
func TestREADMEDiagrams(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```mermaid\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	sources := []string{"architecture.mmd", "dataflow.mmd"}
	if len(blocks) != len(sources) {
		t.Fatalf("README has %d mermaid blocks, want %d", len(blocks), len(sources))
	}
	for i, name := range sources {
		src, err := os.ReadFile(filepath.Join(root, "diagrams", name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(blocks[i][1]) != strings.TrimSpace(string(src)) {
			t.Errorf("README's mermaid block %d differs from diagrams/%s", i+1, name)
		}
	}
}

// TestREADMEFlags checks that the README's configuration section documents every flag of every binary,
// with its environment variable.
func TestREADMEFlags(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, config, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	config, _, _ = strings.Cut(config, "\n## ")
	cmds, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		i := strings.Index(config, "\n### `"+c.Name()+"`")
		if i < 0 {
			t.Errorf("README's Configuration has no section ### `%s`", c.Name())
			continue
		}
		section := config[i+1:]
		if j := strings.Index(section, "\n### "); j >= 0 {
			section = section[:j]
		}
		var sub []string
		if c.Name() == "compactor" {
			sub = []string{"run"}
		}
		for flag := range flagNames(t, testenv.Binary(t, "./cmd/"+c.Name()), sub) {
			env := "NOTESTREAM_" + strings.ReplaceAll(strings.ToUpper(flag), "-", "_")
			if !strings.Contains(section, "`--"+flag+"`") || !strings.Contains(section, "`"+env+"`") {
				t.Errorf("README section %s lacks `--%s` / `%s`", c.Name(), flag, env)
			}
		}
	}
}
