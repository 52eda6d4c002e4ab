package compactor

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/lease"
	"github.com/notestream/notestream/internal/reference"
	"github.com/notestream/notestream/internal/tables"
)

// runWith runs a compactor with the test settings and cfg's chunk and part sizes.
func runWith(t *testing.T, store lake.Store, src Source, cfg Config) (Summary, error) {
	t.Helper()
	c, err := New(Config{Chunk: cmp.Or(cfg.Chunk, 3000), Parallel: 2, Lateness: 5 * time.Minute, ObjectSize: cfg.ObjectSize, RowGroup: cfg.RowGroup,
		Lease: cfg.Lease, Logger: slog.New(slog.DiscardHandler)}, store, src)
	if err != nil {
		t.Fatal(err)
	}
	return c.Run(context.Background())
}

// bronzeFiles lists the objects of a lake directory's bronze tables and staging: directory → names.
func bronzeFiles(t *testing.T, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for key := range snapshot(t, dir, "bronze/", StagingPrefix) {
		out[path.Dir(key)] = append(out[path.Dir(key)], path.Base(key))
	}
	return out
}

// checkFewPerDay fails unless every bronze directory holds at most max objects and no staging is left.
func checkFewPerDay(t *testing.T, dir string, max int) {
	t.Helper()
	days := 0
	for d, names := range bronzeFiles(t, dir) {
		if strings.HasPrefix(d, StagingPrefix) {
			t.Errorf("staging left: %s %v", d, names)
		}
		if strings.HasPrefix(d, tables.BronzeInteractions) {
			days++
		}
		if len(names) > max {
			t.Errorf("%s: %d objects, want at most %d: %v", d, len(names), max, names)
		}
	}
	if days == 0 {
		t.Fatal("no bronze days")
	}
}

// bronzeRows reads every bronze/interactions object as a glob reader would and returns the rows'
// (partition, offset) with the times each occurs.
func bronzeRows(t *testing.T, dir string) map[[2]int64]int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, tables.BronzeInteractions, "*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[2]int64]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := tables.Read([]tables.BronzeInteraction(nil), f, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			seen[[2]int64{int64(r.KafkaPartition), r.KafkaOffset}]++
		}
	}
	return seen
}

// uniformYear is the data challenge's shape: uniform random timestamps over 2023 and users, no order.
func uniformYear(seed uint64, rows, users int) []event.Interaction {
	rng := rand.New(rand.NewPCG(seed, 2))
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	actions := []string{"page_view", "edit", "create", "delete", "share"}
	out := make([]event.Interaction, rows)
	for i := range out {
		out[i] = event.Interaction{UserID: fmt.Sprintf("u%d", rng.IntN(users)), Time: start + rng.Int64N(365*86400_000),
			Action: actions[rng.IntN(len(actions))], PageID: fmt.Sprintf("p%d", rng.IntN(500)), DurationMs: rng.Int64N(600_000), AppVersion: "5.7.3"}
	}
	return out
}

// TestUnsortedYearFewObjectsPerDay: one run over a year in random order, whose every plan range
// holds rows of nearly every day, leaves one bronze object per day, not one per range and day.
func TestUnsortedYearFewObjectsPerDay(t *testing.T) {
	ds := dataset{rows: uniformYear(18, 6000, 1000)}
	src := newMemSource()
	ds.load(src, 0, len(ds.rows))
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	sum, err := runWith(t, store, src, Config{Chunk: 3000})
	if err != nil {
		t.Fatal(err)
	}
	// 3 partitions of about 2,000 records in ranges of 1,000: 6 ranges, each with rows of most days.
	checkFewPerDay(t, dir, 1)
	if sum.BronzeObjects != 365 {
		t.Fatalf("%d bronze objects written, want 365: %+v", sum.BronzeObjects, sum)
	}
	seen := bronzeRows(t, dir)
	if len(seen) != len(ds.rows) {
		t.Fatalf("bronze holds %d rows, want %d", len(seen), len(ds.rows))
	}
	checkGold(t, dir, reference.ComputeRows(ds.rows, nil, time.UTC), expectedLate(src, 5*time.Minute, time.UTC))
}

// TestNightlyRunsFewObjectsPerDay: 30 nightly runs of a day each, with a few late events for earlier
// days, leave at most 2 bronze objects per day and the silver and gold of one run over everything.
func TestNightlyRunsFewObjectsPerDay(t *testing.T) {
	ds := genData(19, 150, 30, 1500)
	first := time.Date(2023, 6, 20, 0, 0, 0, 0, time.UTC).UnixMilli()
	nights := make([][]event.Interaction, 31)
	rng := rand.New(rand.NewPCG(19, 3))
	for _, in := range ds.rows {
		n := min(int((in.Time-first)/86400_000)+1, 30) // the night after the event's day
		if n > 1 && rng.IntN(50) == 0 {
			n += 1 + rng.IntN(30-n+1) // late: a later night brings it
		}
		nights[min(n, 30)] = append(nights[min(n, 30)], in)
	}
	ds.rows = slices.Concat(nights...)
	src := newMemSource()
	ds.loadUsers(src)
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	loaded := 0
	for _, night := range nights[1:] {
		ds.load(src, loaded, loaded+len(night))
		loaded += len(night)
		if _, err := runWith(t, store, src, Config{}); err != nil {
			t.Fatal(err)
		}
	}
	checkFewPerDay(t, dir, 2)
	if seen := bronzeRows(t, dir); len(seen) != len(ds.rows) {
		t.Fatalf("bronze holds %d rows, want %d", len(seen), len(ds.rows))
	}
	cleanDir := t.TempDir()
	clean, _ := lake.NewDir(cleanDir)
	run(t, clean, src)
	diffSnapshots(t, snapshot(t, dir, "silver/", "gold/"), snapshot(t, cleanDir, "silver/", "gold/"))
}

// firstRunWith loads ds's users and its first n rows into a new source and runs a compactor with
// cfg (runWith) on a new lake; it returns the source and the lake's directory and store.
func firstRunWith(t *testing.T, ds dataset, n int, cfg Config) (*memSource, string, *lake.Dir) {
	t.Helper()
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, n)
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	if _, err := runWith(t, store, src, cfg); err != nil {
		t.Fatal(err)
	}
	return src, dir, store
}

// TestPartsAreCutAndSealed: with a small object size, a day's rows fill several parts; a later run
// appends to the open part and cuts new ones, leaving the sealed parts as they were.
func TestPartsAreCutAndSealed(t *testing.T) {
	ds := genData(20, 60, 2, 600)
	small := Config{ObjectSize: 4 << 10, RowGroup: 100}
	half := len(ds.rows) / 2
	src, dir, store := firstRunWith(t, ds, half, small)
	before := snapshot(t, dir, "bronze/")
	st := loadTestState(t, dir)
	ds.load(src, half, len(ds.rows))
	if _, err := runWith(t, store, src, small); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir, "bronze/")
	next := loadTestState(t, dir)
	cut, grew := 0, 0
	for d, open := range st.OpenParts {
		for i := range open {
			key := partKey(d, i)
			if after[key] != before[key] {
				t.Errorf("sealed %s was rewritten", key)
			}
			cut++
		}
		if next.OpenParts[d] < open {
			t.Errorf("%s: open part %d after the second run, %d before", d, next.OpenParts[d], open)
		}
		if next.OpenParts[d] > open {
			grew++
		}
		if _, ok := after[partKey(d, next.OpenParts[d]+1)]; ok {
			t.Errorf("%s: a part past the open part %d", d, next.OpenParts[d])
		}
	}
	if cut == 0 || grew == 0 {
		t.Fatalf("the first run sealed %d parts, the second cut new ones in %d directories: %+v then %+v", cut, grew, st.OpenParts, next.OpenParts)
	}
	seen := bronzeRows(t, dir)
	for k, n := range seen {
		if n != 1 {
			t.Errorf("row %v in bronze %d times", k, n)
		}
	}
	if len(seen) != len(ds.rows) {
		t.Fatalf("bronze holds %d rows, want %d", len(seen), len(ds.rows))
	}
	checkGold(t, dir, reference.ComputeRows(ds.rows, ds.users, time.UTC), expectedLate(src, 5*time.Minute, time.UTC))
}

func loadTestState(t *testing.T, dir string) *State {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, StateKey))
	if err != nil {
		t.Fatal(err)
	}
	st := &State{}
	if err := st.Decode(b); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestReduceCrashThenRerun crashes a second run (which rewrites open parts holding the first run's
// rows and cuts new ones) after every number of writes: at each point a glob reader sees every row
// the first run committed exactly once, and the rerun leaves the lake of a run that did not crash.
func TestReduceCrashThenRerun(t *testing.T) {
	ds := genData(21, 40, 3, 300)
	src := newMemSource()
	ds.loadUsers(src)
	half := len(ds.rows) / 2
	ds.load(src, 0, half)
	firstDir := t.TempDir()
	first, _ := lake.NewDir(firstDir)
	small := Config{ObjectSize: 3 << 10, RowGroup: 60}
	if _, err := runWith(t, first, src, small); err != nil {
		t.Fatal(err)
	}
	committed := bronzeRows(t, firstDir)
	ds.load(src, half, len(ds.rows))
	copyLake := func() (string, lake.Store) {
		t.Helper()
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(firstDir)); err != nil {
			t.Fatal(err)
		}
		store, _ := lake.NewDir(dir)
		return dir, store
	}
	wantDir, wantStore := copyLake()
	log := &keyLog{Store: wantStore}
	if _, err := runWith(t, log, src, small); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, wantDir)
	// The writes up to the commit: staging, then parts.
	commit := slices.Index(log.keys, StateKey)
	if commit < 0 || !slices.ContainsFunc(log.keys[:commit], func(k string) bool { return strings.HasPrefix(k, tables.BronzeInteractions) }) {
		t.Fatalf("writes before the commit: %v", log.keys[:max(commit, 0)])
	}
	rerun := small
	rerun.Lease = lease.Config{Holder: "successor", Now: func() time.Time { return time.Now().Add(time.Hour) }}
	for n := 0; n <= commit+2; n++ {
		dir, base := copyLake()
		crashing := &crashingStore{Store: base, writes: n}
		if _, err := runWith(t, crashing, src, small); err == nil {
			t.Fatalf("crash after %d writes: run succeeded", n)
		}
		seen := bronzeRows(t, dir)
		for k := range committed {
			if seen[k] != 1 {
				t.Fatalf("crash after %d writes (%s): committed row %v seen %d times", n, log.keys[n], k, seen[k])
			}
		}
		for k, c := range seen {
			if c != 1 {
				t.Fatalf("crash after %d writes (%s): row %v seen %d times", n, log.keys[n], k, c)
			}
		}
		// The crashed run's lease stays behind: its successor runs after the lease expired.
		if _, err := runWith(t, base, src, rerun); err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("crash-after-%d-writes", n), func(t *testing.T) { diffSnapshots(t, snapshot(t, dir), want) })
	}
}

// TestLegacyBronzeStays: a lake whose bronze objects are named after plan ranges (written before
// parts) keeps them as they are, and its silver and gold equal a new lake's.
func TestLegacyBronzeStays(t *testing.T) {
	ds := genData(22, 80, 8, 500)
	src := newMemSource()
	ds.loadUsers(src)
	half := len(ds.rows) / 2
	ds.load(src, 0, half)
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	run(t, store, src)
	// Make it an older lake: its bronze objects under range names, no open parts in its state.
	legacy := map[string][32]byte{}
	for i, key := range slices.Sorted(maps.Keys(snapshot(t, dir, "bronze/"))) {
		b, err := os.ReadFile(filepath.Join(dir, key))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		old := fmt.Sprintf("%s/interactions-p00000-%020d-%020d.parquet", path.Dir(key), i, i+1)
		if err := os.Rename(filepath.Join(dir, key), filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
		legacy[old] = sum
	}
	st := loadTestState(t, dir)
	st.OpenParts = nil
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, StateKey), b, 0o644); err != nil {
		t.Fatal(err)
	}
	ds.load(src, half, len(ds.rows))
	run(t, store, src)
	now := snapshot(t, dir, "bronze/")
	for key, sum := range legacy {
		if now[key] != sum {
			t.Errorf("legacy %s changed or went", key)
		}
	}
	if seen := bronzeRows(t, dir); len(seen) != len(ds.rows) {
		t.Fatalf("bronze holds %d rows, want %d", len(seen), len(ds.rows))
	}
	checkGold(t, dir, reference.ComputeRows(ds.rows, ds.users, time.UTC), expectedLate(src, 5*time.Minute, time.UTC))
}

func TestPutAtFencing(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.NewDir(t.TempDir())
	const key = "bronze/interactions/date=2023-06-20/part-00000.parquet"
	body := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	v0, err := store.PutIf(ctx, key, lake.Absent, body("before the run"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutIf(ctx, key, v0, body("the successor's")); err != nil {
		t.Fatal(err)
	}
	f := func(v lake.Version, write string, want error) {
		t.Helper()
		if err := putAt(ctx, store, key, v, body(write)); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("putAt(%q) on version %.8s: %v, want %v", write, v, err, want)
		}
		if b, _ := store.Get(ctx, key); string(b) != "the successor's" {
			t.Errorf("after putAt(%q): the part holds %q", write, b)
		}
	}
	f(v0, "the successor's", nil)          // a successor wrote these bytes: done
	f(v0, "a paused holder's", ErrFenced)  // other bytes: left alone
	f(lake.Absent, "the successor's", nil) // a part created meanwhile, the same
	f(lake.Absent, "a later run's", ErrFenced)
}

// pausing blocks the first conditional write of a key under prefix, once its bytes are made (with
// version: the first Version of one), until resume is closed: a unit paused (GC, SIGSTOP) after it
// computed its rows (while it took its fence).
type pausing struct {
	lake.Store
	prefix  string
	version bool
	once    sync.Once
	paused  chan struct{}
	resume  chan struct{}
}

func newPausing(store lake.Store, prefix string, version bool) *pausing {
	return &pausing{Store: store, prefix: prefix, version: version, paused: make(chan struct{}), resume: make(chan struct{})}
}

func (p *pausing) pause() { p.once.Do(func() { close(p.paused); <-p.resume }) }

func (p *pausing) PutIf(ctx context.Context, key string, v lake.Version, write func(io.Writer) error) (lake.Version, error) {
	if !p.version && strings.HasPrefix(key, p.prefix) {
		var made bytes.Buffer
		err := write(&made)
		p.pause()
		if err != nil {
			return lake.Absent, err
		}
		write = func(w io.Writer) error { _, err := w.Write(made.Bytes()); return err }
	}
	return p.Store.PutIf(ctx, key, v, write)
}

func (p *pausing) Version(ctx context.Context, key string) (lake.Version, error) {
	if p.version && strings.HasPrefix(key, p.prefix) {
		p.pause()
	}
	return p.Store.Version(ctx, key)
}

// TestPausedReduceIsFenced pauses a reduce as it writes its first part, until a successor took the
// unit over and finished the run, and a later run rewrote parts. Resumed, the write leaves the later
// run's parts in place. (A successor's identical part counts as done:
// TestPutAtFencing.)
func TestPausedReduceIsFenced(t *testing.T) {
	ds := genData(22, 60, 2, 600)
	small := Config{ObjectSize: 4 << 10, RowGroup: 100}
	third := len(ds.rows) / 3
	src, dir, base := firstRunWith(t, ds, third, small)
	ds.load(src, third, 2*third)
	paused := newPausing(base, "bronze/", false)
	a, err := New(Config{Chunk: 3000, Parallel: 1, ObjectSize: small.ObjectSize, RowGroup: small.RowGroup, Logger: slog.New(slog.DiscardHandler),
		Lease: lease.Config{Holder: "paused", TTL: 10 * time.Minute}}, paused, src)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { _, err := a.Run(context.Background()); done <- err }()
	<-paused.paused
	rerun := small
	rerun.Lease = lease.Config{Holder: "successor", Now: func() time.Time { return time.Now().Add(time.Hour) }}
	if sum, err := runWith(t, base, src, rerun); err != nil || sum.Run != 2 {
		t.Fatalf("successor: %+v %v, want run 2", sum, err)
	}
	ds.load(src, 2*third, len(ds.rows))
	if sum, err := runWith(t, base, src, rerun); err != nil || sum.Run != 3 || sum.BronzeObjects == 0 {
		t.Fatalf("later run: %+v %v, want run 3 rewriting parts", sum, err)
	}
	want := snapshot(t, dir)
	close(paused.resume)
	// Resumed, it meets the part changed: ErrFenced when it can still make its bytes to compare, or,
	// when the committed run's cleanup took the staged rows it reads, no error (the stage is over, as
	// for any unit of a committed stage); either way it writes nothing (below).
	err = <-done
	if err != nil && !errors.Is(err, ErrFenced) {
		t.Fatalf("the paused reduce: %v, want ErrFenced or nothing", err)
	}
	got := snapshot(t, dir)
	// Its staged objects, done markers and unit leases of a committed run wait for the next run's cleanup.
	maps.DeleteFunc(got, func(k string, _ [32]byte) bool {
		return strings.HasPrefix(k, StagingPrefix) || strings.HasPrefix(k, runStatePrefix) || strings.HasPrefix(k, UnitLeasePrefix)
	})
	diffSnapshots(t, got, want)
}
