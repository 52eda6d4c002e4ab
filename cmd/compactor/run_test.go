package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/cli"
	"github.com/notestream/notestream/internal/compactor"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/lease"
)

func TestRunExits(t *testing.T) {
	f := func(args []string, env map[string]string, wantCode int, wantStdout, wantStderr string) {
		t.Helper()
		env["GOGC"] = "100" // leave the test process's collector alone
		var stdout, stderr strings.Builder
		err := run(context.Background(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stdout, &stderr)
		code := cli.Exit(&stderr, "compactor", err) // as main does
		if code != wantCode || !strings.Contains(stdout.String(), wantStdout) || !strings.Contains(stderr.String(), wantStderr) {
			t.Errorf("%q %v: exit %d (%v), stdout:\n%s\nstderr:\n%s\nwant exit %d, %q and %q", args, env, code, err, stdout.String(), stderr.String(), wantCode, wantStdout, wantStderr)
		}
	}
	none := map[string]string{}
	f(nil, none, 2, "", "Usage: compactor run|backfill|reseed [flags]")
	f([]string{"compact"}, none, 2, "", "Usage: compactor run|backfill|reseed [flags]")
	f([]string{"run", "--bogus"}, none, 2, "", "flag provided but not defined: -bogus")
	f([]string{"backfill", "-h"}, none, 0, "", "-power-users-pct string")
	f([]string{"backfill"}, map[string]string{"NOTESTREAM_TZ": "Mars/Olympus"}, 2, "", "compactor: --tz: unknown time zone Mars/Olympus")
	f([]string{"backfill"}, map[string]string{"NOTESTREAM_POWER_USERS_PCT": "0"}, 2, "", "compactor: --power-users-pct: ")
	f([]string{"backfill"}, map[string]string{"NOTESTREAM_LAKE": "ftp://x"}, 2, "", "compactor: open lake: ")

	// An empty lake, named by the environment: a backfill with nothing to do, and one that cannot be.
	lakeEnv := map[string]string{"NOTESTREAM_LAKE": "file://" + t.TempDir()}
	f([]string{"backfill"}, lakeEnv, 0, "compactor backfill: run ", "")
	f([]string{"backfill", "--from", "2024-02-02", "--to", "2024-02-01"}, lakeEnv, 1, "",
		`msg="compactor backfill failed; nothing half-committed, rerun to finish" err="--from is after --to"`)

	f([]string{"reseed", "--bogus"}, none, 2, "", "Usage: compactor reseed [flags]")
	f([]string{"reseed"}, map[string]string{"NOTESTREAM_TZ": "Mars/Olympus"}, 2, "", "compactor: --tz: unknown time zone Mars/Olympus")
	f([]string{"reseed"}, lakeEnv, 1, "", `msg="compactor reseed failed" err="reseed: the lake has no _state/state.json`)
	f([]string{"reseed"}, map[string]string{"NOTESTREAM_REDIS": "http://x"}, 1, "", `msg="compactor reseed failed" err="--redis: not a valid redis://, rediss:// or redis+cluster:// URL"`)
}

// TestHeldLakeExits: a backfill against a lake whose lease another compactor holds exits at once,
// naming the holder and expiry; with --wait it waits that long first. So does one while a run's
// compactor holds a unit's lease.
func TestHeldLakeExits(t *testing.T) {
	dir := t.TempDir()
	store, err := lake.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lease.Acquire(t.Context(), store, compactor.LeaseKey, lease.Config{Holder: "nightly-1 pid 7", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(t.Context())
	env := map[string]string{"NOTESTREAM_LAKE": "file://" + dir, "GOGC": "100"}
	f := func(args []string, atLeast time.Duration) {
		t.Helper()
		var stdout, stderr strings.Builder
		start := time.Now()
		err := run(t.Context(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &stdout, &stderr)
		code := cli.Exit(&stderr, "compactor", err)
		took := time.Since(start)
		want := `msg="compactor backfill: another compactor holds the lake; exiting without writing (--wait waits for it)" holder="nightly-1 pid 7"`
		if code != 1 || !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "expires=") || took < atLeast || took > atLeast+5*time.Second {
			t.Errorf("%q: exit %d after %v, stderr:\n%s\nwant exit 1 after %v with %q", args, code, took, stderr.String(), atLeast, want)
		}
	}
	f([]string{"backfill"}, 0)
	f([]string{"backfill", "--wait", "2s"}, 2*time.Second)
	if keys, _ := store.List(t.Context(), ""); len(keys) != 1 {
		t.Errorf("the refused runs wrote: %v", keys)
	}

	// A run doing a unit: a backfill that took the lake's lease sees the unit's and gives it back.
	l.Release(t.Context())
	if err := store.Put(t.Context(), compactor.StateKey, func(w io.Writer) error {
		_, err := io.WriteString(w, `{"version":1,"run":1,"tz":"UTC","has_days":true,"first_day":19528,"last_day":19528}`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	unit, err := lease.Acquire(t.Context(), store, compactor.UnitLeasePrefix+"run-2/map/interactions-p00000.json", lease.Config{Holder: "nightly-1 pid 7", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer unit.Release(t.Context())
	f([]string{"backfill"}, 0)
	if err := lease.Check(t.Context(), store, compactor.LeaseKey, lease.Config{}); err != nil {
		t.Errorf("the refused backfill kept the lake's lease: %v", err)
	}
}
