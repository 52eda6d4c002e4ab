package e2e

import (
	"cmp"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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
	sources := []string{"architecture.mmd", "dataflow.mmd", "packages.mmd"}
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

// TestREADMEPackages checks that diagrams/packages.mmd draws every import between the module's
// packages, and no other, but for the packages the README says it leaves out.
func TestREADMEPackages(t *testing.T) {
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "diagrams", "packages.mmd"))
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{} // node id → label, where it has one
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+)\["([^"]+)"\]$`).FindAllStringSubmatch(string(src), -1) {
		labels[m[1]] = m[2]
	}
	nodes := map[string]bool{} // packages drawn: cmd/x as labelled, the rest under internal/
	pkg := func(id string) string {
		p := cmp.Or(labels[id], id)
		if !strings.HasPrefix(p, "cmd/") {
			p = "internal/" + p
		}
		nodes[p] = true
		return p
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+)(?:\[.*\])?$`).FindAllStringSubmatch(string(src), -1) {
		if m[1] != "end" {
			pkg(m[1])
		}
	}
	drawn := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+) --> (.+)$`).FindAllStringSubmatch(string(src), -1) {
		for _, to := range strings.Split(m[2], "&") {
			drawn[pkg(m[1])+" -> "+pkg(strings.TrimSpace(to))] = true
		}
	}

	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/notestream/notestream/"
	left := []string{"internal/cli", "internal/event", "internal/reference", "internal/testenv", "e2e"}
	imports := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		from := strings.TrimPrefix(fields[0], module)
		if slices.Contains(left, from) {
			continue
		}
		if !nodes[from] {
			t.Errorf("diagrams/packages.mmd lacks the package %s", from)
		}
		for _, imp := range fields[1:] {
			if to, ok := strings.CutPrefix(imp, module); ok && !slices.Contains(left, to) {
				imports[from+" -> "+to] = true
			}
		}
	}
	for _, e := range slices.Sorted(maps.Keys(imports)) {
		if !drawn[e] {
			t.Errorf("diagrams/packages.mmd lacks %s", e)
		}
	}
	for _, e := range slices.Sorted(maps.Keys(drawn)) {
		if !imports[e] {
			t.Errorf("diagrams/packages.mmd draws %s, which go list does not show", e)
		}
	}
}

var update = flag.Bool("update", false, "rewrite the README's generated flag tables")

// flagsBegin and flagsEnd enclose the README's flag tables, generated from every binary's -h.
const (
	flagsBegin = "<!-- flags:begin (generated: go test ./e2e -run TestREADMEFlags -update) -->\n"
	flagsEnd   = "<!-- flags:end -->\n"
)

// binaryOrder is the order of the README's flag tables; binaries not listed follow in name order.
var binaryOrder = []string{"producer", "consumer", "compactor", "broker", "datagen", "profile", "report"}

// subcommands are the binaries whose flags depend on the subcommand: a table per entry, the first under
// the binary's name, the others under "<binary> <subcommand>".
var subcommands = map[string][]string{"compactor": {"run", "reseed"}}

// binaryNotes precede a table.
var binaryNotes = map[string]string{
	"compactor": "`compactor run` and `compactor backfill` take the same flags; `--brokers` matters to `run`, " +
		"`--from`/`--to`/`--parallel` to `backfill`.",
	"compactor reseed": "`compactor reseed` takes flags of its own (see reseeding, under Operating it); `--redis-prefix`, " +
		"`--interactions-topic` and `--tz` must be the consumers'.",
}

// TestREADMEFlags checks that the README's flag tables are what every binary's -h says today: each flag
// with its environment variable, default and meaning. -update rewrites them.
func TestREADMEFlags(t *testing.T) {
	root := repoRoot(t)
	path := filepath.Join(root, "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(readme), flagsBegin)
	old, after, ok2 := strings.Cut(rest, flagsEnd)
	if !ok1 || !ok2 {
		t.Fatalf("README has no %q … %q block", flagsBegin, flagsEnd)
	}
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !slices.Contains(binaryOrder, e.Name()) {
			names = append(names, e.Name())
		}
	}
	for _, name := range slices.Backward(binaryOrder) {
		if _, err := os.Stat(filepath.Join(root, "cmd", name)); err == nil {
			names = slices.Insert(names, 0, name)
		}
	}
	var b strings.Builder
	for _, name := range names {
		subs := subcommands[name]
		if subs == nil {
			subs = []string{""}
		}
		for i, sub := range subs {
			title, args := name, []string{"-h"}
			if sub != "" {
				args = []string{sub, "-h"}
			}
			if i > 0 {
				title += " " + sub
			}
			out, _ := exec.Command(testenv.Binary(t, "./cmd/"+name), args...).CombinedOutput()
			fmt.Fprintf(&b, "\n### `%s`\n\n", title)
			if note := binaryNotes[title]; note != "" {
				b.WriteString(note + "\n\n")
			}
			b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
			for _, f := range parseDefaults(string(out)) {
				env := "NOTESTREAM_" + strings.ReplaceAll(strings.ToUpper(f.name), "-", "_")
				def := ""
				if f.def != "" {
					def = "`" + f.def + "`"
				}
				fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", f.name, env, def, strings.ReplaceAll(f.usage, "|", `\|`))
			}
		}
	}
	b.WriteString("\n")
	if b.String() == old {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+flagsBegin+b.String()+flagsEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README's flag tables differ from the binaries' -h; run go test ./e2e -run TestREADMEFlags -update\n--- README\n%s\n--- binaries\n%s", old, b.String())
}

type flagDoc struct{ name, def, usage string }

// parseDefaults reads the flag package's PrintDefaults format: "  -name type" then tab-indented usage
// lines, the last ending in "(default …)" when the default is not the zero value.
func parseDefaults(out string) []flagDoc {
	var docs []flagDoc
	head := regexp.MustCompile(`^  -([a-z][a-z0-9-]*)(?: \S+)?$`)
	for _, line := range strings.Split(out, "\n") {
		if m := head.FindStringSubmatch(line); m != nil {
			docs = append(docs, flagDoc{name: m[1]})
			continue
		}
		if u, ok := strings.CutPrefix(line, "    \t"); ok && len(docs) > 0 {
			d := &docs[len(docs)-1]
			d.usage = strings.TrimSpace(d.usage + " " + strings.TrimSpace(u))
		}
	}
	def := regexp.MustCompile(` \(default (.*)\)$`)
	for i := range docs {
		if m := def.FindStringSubmatchIndex(docs[i].usage); m != nil {
			docs[i].def = docs[i].usage[m[2]:m[3]]
			docs[i].usage = docs[i].usage[:m[0]]
		}
	}
	return docs
}
