package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/cli"
)

func TestRunExits(t *testing.T) {
	f := func(args []string, env map[string]string, wantCode int, wantStderr string) {
		t.Helper()
		env["GOMEMLIMIT"] = "off" // leave the test process's limit alone
		var stdout, stderr strings.Builder
		err := run(context.Background(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stdout, &stderr)
		if code := cli.Exit(&stderr, "producer", err); code != wantCode || !strings.Contains(stderr.String(), wantStderr) { // as main does
			t.Errorf("%q %v: exit %d (%v), stderr:\n%s\nwant exit %d and %q", args, env, code, err, stderr.String(), wantCode, wantStderr)
		}
	}
	f([]string{"--bogus"}, map[string]string{}, 2, "flag provided but not defined: -bogus")
	f(nil, map[string]string{"NOTESTREAM_SPEED": "0"}, 2, `producer: --speed "0": want max or a positive factor`)
	f([]string{"--speed", "2"}, map[string]string{"NOTESTREAM_SPEED": "0", "NOTESTREAM_SORT_MEMORY": "lots"}, 2, `producer: --sort-memory "lots": want a positive byte count`)
	f(nil, map[string]string{"NOTESTREAM_LOG_LEVEL": "loud"}, 2, "producer: --log-level: ")
	f(nil, map[string]string{"NOTESTREAM_CPUPROFILE": filepath.Join(t.TempDir(), "no", "cpu.pprof")}, 2, "producer: --cpuprofile: ")

	// Brokers that refuse connections, named by the environment: the replay fails and says so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f([]string{"--timeout", "300ms", "--interactions", filepath.Join(t.TempDir(), "i.csv")},
		map[string]string{"NOTESTREAM_BROKERS": addr}, 1, `msg="replay failed" err="brokers unreachable: `+addr)
}
