package main

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/cli"
)

func TestRunExits(t *testing.T) {
	f := func(args []string, env map[string]string, wantCode int, wantStderr string) {
		t.Helper()
		var stdout, stderr strings.Builder
		err := run(context.Background(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stdout, &stderr)
		if code := cli.Exit(&stderr, "consumer", err); code != wantCode || !strings.Contains(stderr.String(), wantStderr) { // as main does
			t.Errorf("%q %v: exit %d (%v), stderr:\n%s\nwant exit %d and %q", args, env, code, err, stderr.String(), wantCode, wantStderr)
		}
	}
	f([]string{"--bogus"}, nil, 2, "flag provided but not defined: -bogus")
	f(nil, map[string]string{"NOTESTREAM_TZ": "Mars/Olympus"}, 2, "consumer: --tz: unknown time zone Mars/Olympus")
	f(nil, map[string]string{"NOTESTREAM_LOG_LEVEL": "loud"}, 2, "consumer: --log-level: ")

	// A Redis that refuses connections, named by the environment.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f([]string{"--timeout", "300ms"}, map[string]string{"NOTESTREAM_REDIS": "redis://" + addr}, 1, "consumer: redis unreachable")
}
