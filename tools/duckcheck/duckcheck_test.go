package main

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestLakeEqualsSQL replays a generated clean year through the repository's broker, producer and
// compactor (built from ../..) and compares every gold table with DuckDB's SQL over the same CSV,
// power users at two top percentages; a lake written with another percentage than the SQL must differ.
func TestLakeEqualsSQL(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin") + "/"
	build := exec.Command("go", "build", "-o", bin, "./cmd/broker", "./cmd/datagen", "./cmd/producer", "./cmd/compactor")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runBin := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(bin+name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	csv := filepath.Join(dir, "csv")
	runBin("datagen", "--users", "400", "--days", "120", "--start", "2023-05-03", "--seed", "5", "--clean", "--quiet", "--out", csv)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	broker := exec.Command(bin+"broker", "--listen", addr, "--data-dir", filepath.Join(dir, "broker"), "--partitions", "4")
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Process.Kill(); broker.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("broker did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	runBin("producer", "--brokers", addr, "--users", filepath.Join(csv, "user_metadata.csv"),
		"--interactions", filepath.Join(csv, "user_interactions.csv"))
	lake := filepath.Join(dir, "lake")
	runBin("compactor", "run", "--brokers", addr, "--lake", "file://"+lake)

	ctx := context.Background()
	if err := run(ctx, lake, csv, "1"); err != nil {
		t.Fatalf("default top 1%%: %v", err)
	}
	runBin("compactor", "backfill", "--lake", "file://"+lake, "--power-users-pct", "12.5")
	if err := run(ctx, lake, csv, "12.5"); err != nil {
		t.Fatalf("top 12.5%%: %v", err)
	}
	if err := run(ctx, lake, csv, "1"); err == nil {
		t.Fatal("a lake of the top 12.5% equals the SQL of the top 1%: the comparison cannot fail")
	}
}
