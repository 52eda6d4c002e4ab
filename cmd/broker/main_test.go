package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/testenv"
)

// runBroker starts the binary with env and args; the returned func sends SIGTERM and waits, failing
// the test unless the broker exits 0 within 10 s.
func runBroker(t *testing.T, env []string, args ...string) (stop func() string) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t, "./cmd/broker"), args...)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.CreateTemp(t.TempDir(), "broker-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy
	cmd.Stderr = logf
	logs := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	// Wait for the port: a kgo client that finds it closed backs off for seconds before retrying.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", listenAddr(args, env))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker not listening after 10 s: %v\n%s", err, logs())
		}
	}
	return func() string {
		t.Helper()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("broker exited with %v:\n%s", err, logs())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("broker still running 10 s after SIGTERM:\n%s", logs())
		}
		return logs()
	}
}

func client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	c, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestEnvFlagsAndCleanShutdown configures the broker only through NOTESTREAM_ variables, stops it
// with SIGTERM and starts it again from flags on the same data directory.
func TestEnvFlagsAndCleanShutdown(t *testing.T) {
	addr, dir := testenv.FreeAddr(t), filepath.Join(t.TempDir(), "broker")
	stop := runBroker(t, []string{"NOTESTREAM_LISTEN=" + addr, "NOTESTREAM_DATA_DIR=" + dir, "NOTESTREAM_PARTITIONS=4"})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prod := client(t, addr, kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("t"))
	var recs []*kgo.Record
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		recs = append(recs, &kgo.Record{Key: []byte(v), Value: []byte(v)})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	topics, err := kadm.NewClient(prod).ListTopics(ctx, "t")
	if err != nil || len(topics["t"].Partitions) != 4 {
		t.Fatalf("topic t: %v, %v; want 4 partitions from NOTESTREAM_PARTITIONS", topics["t"].Partitions, err)
	}
	prod.Close()
	if logs := stop(); !strings.Contains(logs, "broker stopped") {
		t.Errorf("logs lack a clean stop:\n%s", logs)
	}

	stop = runBroker(t, nil, "--listen", addr, "--data-dir", dir)
	cons := client(t, addr, kgo.ConsumeTopics("t"))
	got := 0
	for got < len(recs) && ctx.Err() == nil {
		got += cons.PollFetches(ctx).NumRecords()
	}
	if got != len(recs) {
		t.Fatalf("read %d records after restart, want %d", got, len(recs))
	}
	cons.Close()
	stop()
}

func TestBadConfigExits(t *testing.T) {
	cmd := exec.Command(testenv.Binary(t, "./cmd/broker"), "--listen", "0.0.0.0:9092", "--data-dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !bytes.Contains(out, []byte("wildcard")) {
		t.Fatalf("broker with a wildcard listen address: %v\n%s", err, out)
	}
}

// listenAddr finds the --listen flag or NOTESTREAM_LISTEN variable runBroker was given.
func listenAddr(args, env []string) string {
	for i, a := range args {
		if a == "--listen" {
			return args[i+1]
		}
	}
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "NOTESTREAM_LISTEN="); ok {
			return v
		}
	}
	return ""
}
