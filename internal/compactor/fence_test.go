package compactor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/lease"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/tables"
)

// TestPausedRebuildIsFenced pauses a rebuild unit as it writes its first object under a prefix (after
// it took its fence and computed its rows), until a successor took the unit over and finished the run,
// and a later run rewrote the object with other rows. Resumed, the unit fails with ErrFenced and
// leaves the later run's objects in place. One paused while it takes its fence (version) finds
// state.json changed at its first write, so it writes nothing and its run goes on: want nil.
func TestPausedRebuildIsFenced(t *testing.T) {
	f := func(prefix string, version bool, want error) {
		t.Run(fmt.Sprintf("%s/version=%t", strings.TrimSuffix(prefix, "/"), version), func(t *testing.T) {
			ds := genData(23, 60, 3, 600)
			src := newMemSource()
			ds.loadUsers(src)
			third := len(ds.rows) / 3
			ds.load(src, 0, third)
			// Each later run brings new plans and join dates too, so that it rewrites silver/users and the
			// cohorts.
			plans := func(plan string, joined ...string) {
				for i, u := range ds.users {
					u.SubscriptionType, u.JoinDate = plan, joined[i%len(joined)]
					src.append("users", testPartitions, u.UserID, record.AppendUser(nil, &u), "")
				}
			}
			dir := t.TempDir()
			base, _ := lake.NewDir(dir)
			if _, err := runWith(t, base, src, Config{}); err != nil {
				t.Fatal(err)
			}
			ds.load(src, third, 2*third)
			plans("team", "2023-06-20")
			paused := newPausing(base, prefix, version)
			a, err := New(Config{Chunk: 3000, Parallel: 1, Logger: slog.New(slog.DiscardHandler),
				Lease: lease.Config{Holder: "paused", TTL: 10 * time.Minute}}, paused, src)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error)
			go func() { _, err := a.Run(context.Background()); done <- err }()
			select {
			case <-paused.paused:
			case err := <-done:
				t.Fatalf("the run wrote nothing under %s: %v", prefix, err)
			}
			later := Config{Lease: lease.Config{Holder: "successor", Now: func() time.Time { return time.Now().Add(time.Hour) }}}
			if sum, err := runWith(t, base, src, later); err != nil || sum.Run != 2 {
				t.Fatalf("successor: %+v %v, want run 2", sum, err)
			}
			before := snapshot(t, dir, prefix)
			ds.load(src, 2*third, len(ds.rows))
			plans("free", "2023-06-12", "2023-06-20")
			if sum, err := runWith(t, base, src, later); err != nil || sum.Run != 3 {
				t.Fatalf("later run: %+v %v, want run 3", sum, err)
			}
			lakeAfter := snapshot(t, dir)
			changed := false
			for k, h := range snapshot(t, dir, prefix) {
				changed = changed || before[k] != h
			}
			if !changed {
				t.Fatalf("the later run rewrote nothing under %s", prefix)
			}
			close(paused.resume)
			if err := <-done; !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Fatalf("the paused unit's run: %v, want %v", err, want)
			}
			got := snapshot(t, dir)
			// Its done markers and leases of a finished run wait for the next run's cleanup.
			maps.DeleteFunc(got, func(k string, _ [32]byte) bool {
				return strings.HasPrefix(k, runStatePrefix) || strings.HasPrefix(k, UnitLeasePrefix)
			})
			diffSnapshots(t, got, lakeAfter)
		})
	}
	f(tables.SilverUsers+"/", false, ErrFenced)
	f(tables.SilverInteractions+"/", false, ErrFenced)
	f(tables.SilverInteractions+"/", true, nil)
	f(tables.GoldDailyMetrics+"/", false, ErrFenced)
	f(tables.GoldDailyMetrics+"/", true, nil)
	f(tables.GoldCohortRetention+"/", false, ErrFenced)
	f(CohortIndexKey, false, ErrFenced)
}

func TestDeleteFenced(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.NewDir(t.TempDir())
	c := &Compactor{cfg: Config{Uploads: 2}, store: store}
	body := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	const prefix = "gold/cohort_retention/"
	for _, k := range []string{"same", "rewritten"} {
		if err := store.Put(ctx, prefix+k, body("before")); err != nil {
			t.Fatal(err)
		}
	}
	fc, err := c.takeFence(ctx, nil, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rewritten", "created"} {
		if err := store.Put(ctx, prefix+k, body("a later run's")); err != nil {
			t.Fatal(err)
		}
	}
	f := func(key string, want error, left string) {
		t.Helper()
		if err := c.deleteFenced(ctx, fc, prefix+key); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("deleteFenced(%s): %v, want %v", key, err, want)
		}
		if b, _ := store.Get(ctx, prefix+key); string(b) != left {
			t.Errorf("after deleteFenced(%s): %q, want %q", key, b, left)
		}
	}
	f("same", nil, "")
	f("same", nil, "") // gone already: done
	f("rewritten", ErrFenced, "a later run's")
	f("created", ErrFenced, "a later run's")
	if err := c.deleteFenced(ctx, fc, "gold/anomalies/x"); err == nil || errors.Is(err, ErrFenced) {
		t.Errorf("deleteFenced of a key the fence did not take: %v, want an error other than ErrFenced", err)
	}
}
