package compactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/reference"
	"github.com/notestream/notestream/internal/rowfile"
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

// TestSpillFiles: a bucket's bronze spill file reads back as written, and cut short or with a byte
// changed it is rowfile.ErrCorrupt; spilled sessions merge by user, each user's rows in their file's
// order, with DurationS's bits kept.
func TestSpillFiles(t *testing.T) {
	dir := t.TempDir()
	bronze := []tables.BronzeInteraction{
		{UserID: "u1", Timestamp: 5, ActionType: "edit", PageID: "p1", DurationMs: 7, AppVersion: "5.1", KafkaPartition: 3, KafkaOffset: 9, Late: true},
		{UserID: "u2", Timestamp: -1, PageID: "p2"},
	}
	p := filepath.Join(dir, "bronze-00000")
	if _, err := writeSpill(p, stagedInteractions, bronze); err != nil {
		t.Fatal(err)
	}
	if got, err := readBronzeSpill(p, len(bronze)); err != nil || !slices.Equal(got, bronze) {
		t.Fatalf("read back %v, %v; want %v", got, err, bronze)
	}
	if _, err := readBronzeSpill(p, len(bronze)+1); err == nil {
		t.Fatal("a spill file of fewer rows than written read back")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, damaged := range [][]byte{b[:len(b)-3], slices.Concat(b[:len(b)/2], []byte{b[len(b)/2] ^ 1}, b[len(b)/2+1:])} {
		if err := os.WriteFile(p, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readBronzeSpill(p, len(bronze)); !errors.Is(err, rowfile.ErrCorrupt) {
			t.Fatalf("read of a damaged spill file: %v, want rowfile.ErrCorrupt", err)
		}
	}

	files := [][]tables.SilverSession{
		{{UserID: "a", SessionID: "a2", DurationS: math.Copysign(0, -1)}, {UserID: "a", SessionID: "a1"}, {UserID: "d", SessionID: "d1"}},
		{},
		{{UserID: "b", SessionID: "b1", DurationS: math.NaN()}, {UserID: "c", SessionID: "c2"}, {UserID: "c", SessionID: "c1", DurationS: 1.5}},
	}
	var spilled []stagedSegment
	for i, rows := range files {
		key := fmt.Sprintf("sessions-%05d", i)
		n, err := writeSpill(filepath.Join(dir, key), spillSessions, rows)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, key))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != n {
			t.Fatalf("writeSpill reports %d bytes, the file has %d", n, fi.Size())
		}
		spilled = append(spilled, stagedSegment{Key: key, Len: n})
	}
	store, _ := lake.NewDir(dir)
	var got []tables.SilverSession
	err = mergeSpills(context.Background(), store, spillSessions, spilled, func(b []tables.SilverSession) error { got = append(got, b...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := []tables.SilverSession{files[0][0], files[0][1], files[2][0], files[2][1], files[2][2], files[0][2]}
	eq := func(a, b tables.SilverSession) bool {
		return a.SessionID == b.SessionID && math.Float64bits(a.DurationS) == math.Float64bits(b.DurationS)
	}
	if !slices.EqualFunc(got, want, eq) {
		t.Fatalf("merged %v, want %v", got, want)
	}
}
