package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/cli"
)

func TestRunExits(t *testing.T) {
	f := func(ctx context.Context, args []string, env map[string]string, wantCode int, wantStderr string) {
		t.Helper()
		var stdout, stderr strings.Builder
		err := run(ctx, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stdout, &stderr)
		if code := cli.Exit(&stderr, "datagen", err); code != wantCode || !strings.Contains(stderr.String(), wantStderr) { // as main does
			t.Errorf("%q %v: exit %d (%v), stderr:\n%s\nwant exit %d and %q", args, env, code, err, stderr.String(), wantCode, wantStderr)
		}
	}
	bg := context.Background()
	dir := t.TempDir()
	f(bg, []string{"--bogus"}, nil, 2, "flag provided but not defined: -bogus")
	f(bg, []string{"--out", dir, "extra"}, nil, 2, `datagen: unexpected arguments ["extra"]`)
	f(bg, []string{"--out", dir}, map[string]string{"NOTESTREAM_START": "2023-02-30"}, 2, "datagen: --start: ")
	f(bg, []string{"--out", dir}, map[string]string{"NOTESTREAM_RATE_BAD_DATE": "2"}, 2, "datagen: ")
	f(bg, []string{"--out", dir}, map[string]string{"NOTESTREAM_USERS": "many"}, 2, "datagen: cli: NOTESTREAM_USERS")

	// Interrupted: an error, and neither file, not even a temporary one.
	ctx, cancel := context.WithCancel(bg)
	cancel()
	f(ctx, []string{"--out", dir, "--days", "2"}, map[string]string{"NOTESTREAM_USERS": "20"}, 1, "context canceled")
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("an interrupted run left %v (%v)", entries, err)
	}
	f(bg, []string{"--out", dir, "--days", "2"}, map[string]string{"NOTESTREAM_USERS": "20"}, 0, "wrote "+dir)
}
