package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestBar(t *testing.T) {
	f := func(o Options, wantLast string, want ...string) {
		t.Helper()
		var buf bytes.Buffer
		b := New(&buf, 2048, o)
		b.Set(1024)
		b.Describe("half")
		b.Add(1024)
		b.Finish()
		out := buf.String()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%+v: output %q lacks %q", o, out, w)
			}
		}
		if !strings.HasSuffix(out, wantLast) {
			t.Errorf("%+v: output %q does not end in %q", o, out, wantLast)
		}
	}
	// A kept bar ends on its own line; a cleared one with the cursor back at the start of its line.
	f(Options{Description: "a.csv", Bytes: true, Width: 30, Keep: true}, "\n",
		"a.csv  50% |"+strings.Repeat("█", 15)+strings.Repeat(" ", 15)+"|", "half 100% |"+strings.Repeat("█", 30)+"|", "B/s")
	f(Options{Description: "silver", Count: true}, "\r",
		"silver  50% |"+strings.Repeat("█", 20)+strings.Repeat(" ", 20)+"| (1024/2048)")
}

func TestStages(t *testing.T) {
	var buf bytes.Buffer
	s := NewStages(&buf)
	s.Add(1) // before any stage: nothing to draw
	s.Start("bronze", 4)
	s.Add(1)
	s.Start("silver", 2)
	s.Add(1)
	s.Finish()
	s.Finish()
	out := buf.String()
	if i, j := strings.Index(out, "bronze"), strings.Index(out, "silver"); i < 0 || j < i || !strings.Contains(out, "(1/4)") || !strings.Contains(out, "(1/2") {
		t.Errorf("stages drew %q", out)
	}
}

func TestIsTerminal(t *testing.T) {
	var buf bytes.Buffer
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(&buf) || IsTerminal(f) {
		t.Error("a buffer or a plain file counts as a terminal")
	}
}
