package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/cli"
)

// lockedBuffer is a strings.Builder that run's logger and the test can share.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestRunExits(t *testing.T) {
	f := func(args []string, env map[string]string, wantCode int, wantStderr string) {
		t.Helper()
		var stderr lockedBuffer
		err := run(context.Background(), args, mapEnv(env), &stderr, &stderr)
		if code := cli.Exit(&stderr, "broker", err); code != wantCode || !strings.Contains(stderr.String(), wantStderr) { // as main does
			t.Errorf("%q %v: exit %d (%v), stderr:\n%s\nwant exit %d and %q", args, env, code, err, stderr.String(), wantCode, wantStderr)
		}
	}
	f([]string{"--bogus"}, nil, 2, "Usage: broker [flags]")
	f(nil, map[string]string{"NOTESTREAM_PARTITIONS": "many"}, 2, "broker: cli: NOTESTREAM_PARTITIONS")
	f(nil, map[string]string{"NOTESTREAM_LISTEN": "0.0.0.0:9092", "NOTESTREAM_DATA_DIR": t.TempDir()}, 1, "wildcard")
}

// TestRunServesUntilDone: the environment's address and directory, and a clean stop when ctx ends.
func TestRunServesUntilDone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, mapEnv(map[string]string{"NOTESTREAM_LISTEN": addr, "NOTESTREAM_DATA_DIR": dataDir}), &stderr, &stderr)
	}()
	stopped := false
	t.Cleanup(func() { // before dataDir's removal
		if !stopped {
			cancel()
			<-done
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), `msg="broker serving" addr=`+addr); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not serving on %s after 10 s:\n%s", addr, stderr.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		stopped = true
		if err != nil || !strings.Contains(stderr.String(), "broker stopped") {
			t.Fatalf("run = %v after ctx ended:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("run still serving 10 s after ctx ended:\n%s", stderr.String())
	}
}
