package compactor

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/reference"
	"github.com/notestream/notestream/internal/tables"
)

func TestMergeRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sizes := range [][]int{{}, {0}, {5}, {3, 0, 4}, {1, 1, 1}, {7, 2, 9, 4, 0, 6, 1}, {50, 50, 50, 50, 50, 50, 50, 50}, {1, 2000}} {
		var rows []tables.BronzeInteraction
		for p, n := range sizes {
			run := make([]tables.BronzeInteraction, n)
			for i := range run {
				// Few users and times, so ties between runs are common.
				run[i] = tables.BronzeInteraction{UserID: fmt.Sprint("u", rng.IntN(3)), Timestamp: int64(rng.IntN(4)), KafkaPartition: int32(p), KafkaOffset: int64(i)}
			}
			if p%2 == 0 { // bronze objects are sorted; odd runs stay unsorted
				slices.SortFunc(run, func(a, b tables.BronzeInteraction) int { return compareBronze(&a, &b) })
			}
			rows = append(rows, run...)
		}
		want := slices.Clone(rows)
		slices.SortFunc(want, func(a, b tables.BronzeInteraction) int { return compareBronze(&a, &b) })
		if got := mergeRuns(rows); !slices.Equal(got, want) {
			t.Errorf("runs %v: merged\n%v\nwant\n%v", sizes, got, want)
		}
	}
}

// TestBucketsBuildTheSameLake: days built in buckets of users through spill files leave the lake
// that days built in memory leave, byte for byte, and it equals the reference; the spill files are
// gone afterwards.
func TestBucketsBuildTheSameLake(t *testing.T) {
	ds := genData(7, 300, 20, 3000)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	build := func(buckets int) (string, string) {
		dir, spill := t.TempDir(), t.TempDir()
		store, err := lake.NewDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(Config{Chunk: 3000, Parallel: 2, Lateness: 5 * time.Minute, SpillDir: spill, Logger: slog.New(slog.DiscardHandler)}, store, src)
		if err != nil {
			t.Fatal(err)
		}
		c.buckets = buckets
		if _, err := c.Run(context.Background()); err != nil {
			t.Fatalf("%d buckets: %v", buckets, err)
		}
		return dir, spill
	}
	want, _ := build(1)
	ref := reference.ComputeRows(ds.rows, ds.users, time.UTC)
	for _, n := range []int{2, 7} {
		dir, spill := build(n)
		diffSnapshots(t, snapshot(t, dir), snapshot(t, want))
		checkGold(t, dir, ref, expectedLate(src, 5*time.Minute, time.UTC))
		checkPerformance(t, dir, ref)
		checkEngagement(t, dir, ref, "1")
		if left, _ := os.ReadDir(spill); len(left) > 0 {
			t.Errorf("%d buckets left %d spill entries", n, len(left))
		}
	}
}
