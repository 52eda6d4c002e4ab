package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
