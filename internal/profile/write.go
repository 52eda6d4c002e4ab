package profile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// WriteFiles writes rep as <dir>/<base>.md and <dir>/<base>.json.
func WriteFiles(dir, base string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("profile: encode %s: %w", base, err)
	}
	if err := os.WriteFile(filepath.Join(dir, base+".json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, base+".md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	return nil
}

// WriteMarkdown writes rep as a Markdown document.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }

	p("# Profile of `%s`\n\n", rep.File)
	p("| rows read | readable | rejected |")
	if rep.RuleInvalid != nil {
		p(" rule-invalid | valid events |")
	}
	p("\n|---:|---:|---:|")
	if rep.RuleInvalid != nil {
		p("---:|---:|")
	}
	p("\n| %d | %d | %d |", rep.Rows, rep.Readable, sum(rep.Rejected))
	if rep.RuleInvalid != nil {
		p(" %d | %d |", sum(rep.RuleInvalid), rep.ValidEvents)
	}
	p("\n\n")
	if rep.DuplicateUsers > 0 {
		p("Metadata rows repeating an earlier user (the last row wins): %d.\n\n", rep.DuplicateUsers)
	}
	if rep.UsersWithoutMetadata != nil {
		p("Users with valid events but no metadata (segment value `unknown`): %d.\n\n", *rep.UsersWithoutMetadata)
	}

	reasons := func(title string, m map[string]int64) {
		p("## %s\n\n", title)
		if len(m) == 0 {
			p("None.\n\n")
			return
		}
		p("| reason | rows |\n|---|---:|\n")
		for _, k := range slices.Sorted(maps.Keys(m)) {
			p("| `%s` | %d |\n", k, m[k])
		}
		p("\n")
	}
	reasons("Rejected at ingest (unreadable)", rep.Rejected)
	if rep.RuleInvalid != nil {
		reasons("Rule-invalid (readable, not counted)", rep.RuleInvalid)
	}

	p("## Columns (readable rows)\n\n")
	p("| column | empty | distinct | min | max |\n|---|---:|---:|---|---|\n")
	for _, c := range rep.Columns {
		p("| `%s` | %d | %d | %s | %s |\n", c.Name, c.Empty, c.Distinct, code(c.Min), code(c.Max))
	}
	p("\n")
	for _, c := range rep.Columns {
		p("### Top values of `%s`\n\n| value | rows |\n|---|---:|\n", c.Name)
		for _, vc := range c.Top {
			p("| %s | %d |\n", code(vc.Value), vc.Count)
		}
		p("\n")
	}

	for _, h := range rep.Histograms {
		p("## Histogram of %s\n\n| bucket | count | |\n|---|---:|---|\n", h.Name)
		var peak int64
		for _, b := range h.Buckets {
			peak = max(peak, b.Count)
		}
		for _, b := range h.Buckets {
			bar := 0
			if peak > 0 {
				bar = int((b.Count*40 + peak - 1) / peak)
			}
			p("| %s | %d | %s |\n", b.Label, b.Count, strings.Repeat("█", bar))
		}
		p("\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("profile: write markdown: %w", err)
	}
	return nil
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// code formats a value as inline code that survives a Markdown table: pipes escaped, newlines shown.
func code(s string) string {
	if s == "" {
		return "*(empty)*"
	}
	s = strings.NewReplacer("|", `\|`, "\n", `\n`, "\r", `\r`, "`", "'").Replace(s)
	return "`" + s + "`"
}
