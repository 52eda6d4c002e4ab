package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/cli"
)

func TestRun(t *testing.T) {
	f := func(args []string, env map[string]string, wantCode int, wantStdout, wantStderr string) {
		t.Helper()
		var stdout, stderr strings.Builder
		err := run(context.Background(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stdout, &stderr)
		code := cli.Exit(&stderr, "report", err) // as main does
		if code != wantCode || !strings.Contains(stdout.String(), wantStdout) || !strings.Contains(stderr.String(), wantStderr) {
			t.Errorf("%q %v: exit %d (%v), stdout:\n%s\nstderr:\n%s\nwant exit %d, %q and %q", args, env, code, err, stdout.String(), stderr.String(), wantCode, wantStdout, wantStderr)
		}
	}
	f([]string{"--bogus"}, nil, 2, "", "Usage: report [flags]")
	f(nil, map[string]string{"NOTESTREAM_THROUGH": "2026-13-01"}, 2, "", `report: --through "2026-13-01": want YYYY-MM-DD`)

	// An empty lake: a page without days, named by the environment.
	dir := t.TempDir()
	out := filepath.Join(dir, "r.html")
	f(nil, map[string]string{"NOTESTREAM_LAKE": "file://" + dir, "NOTESTREAM_OUT": out}, 0, "gold: no daily metrics yet", `msg="report written" out=`+out)
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
	f([]string{"--lake", "file://" + filepath.Join(dir, "r.html", "x")}, map[string]string{"NOTESTREAM_OUT": out}, 1, "", `msg="report failed"`)
}
