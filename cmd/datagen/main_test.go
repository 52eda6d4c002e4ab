package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("NOTESTREAM_USERS", "50")
	if err := run(context.Background(), []string{"--days", "3", "--out", dir, "--clean", "--quiet"}, os.LookupEnv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	users, err := os.ReadFile(filepath.Join(dir, "user_metadata.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// A header, then at most 50 users and some updates.
	if n := bytes.Count(users, []byte{'\n'}); n < 40 || n > 60 {
		t.Fatalf("%d metadata lines from NOTESTREAM_USERS=50", n)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "user_interactions.csv user_metadata.csv" {
		t.Fatalf("output directory holds %v", names)
	}
	if err := run(context.Background(), []string{"--out", dir, "--start", "2023-02-30"}, os.LookupEnv, io.Discard, io.Discard); err == nil {
		t.Fatal("a bad --start was accepted")
	}
	if err := run(context.Background(), []string{"--out", dir, "--rate-bad-date", "2"}, os.LookupEnv, io.Discard, io.Discard); err == nil {
		t.Fatal("a rate of 2 was accepted")
	}
}
