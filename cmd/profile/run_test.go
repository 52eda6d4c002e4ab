package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/cli"
)

func TestRun(t *testing.T) {
	f := func(args []string, env map[string]string, wantCode int, wantStderr string) {
		t.Helper()
		var stdout, stderr strings.Builder
		err := run(context.Background(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stdout, &stderr)
		if code := cli.Exit(&stderr, "profile", err); code != wantCode || !strings.Contains(stderr.String(), wantStderr) { // as main does
			t.Errorf("%q %v: exit %d (%v), stderr:\n%s\nwant exit %d and %q", args, env, code, err, stderr.String(), wantCode, wantStderr)
		}
	}
	f([]string{"--bogus"}, nil, 2, "Usage: profile [flags]")
	f([]string{"-h"}, nil, 0, "-interactions string")
	missing := filepath.Join(t.TempDir(), "nope.csv")
	f(nil, map[string]string{"NOTESTREAM_USERS": missing}, 1, `msg="profile failed" err="open `+missing)
	f(nil, map[string]string{"NOTESTREAM_OUT": "x", "NOTESTREAM_USERS": "y"}, 1, "open y: no such file")
	f([]string{"--users", missing}, map[string]string{"NOTESTREAM_USERS": "y"}, 1, "open "+missing)
}
