package compactor

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/lease"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/reference"
	"github.com/notestream/notestream/internal/tables"
)

// memSource is a Source over records kept in memory, partitioned by key like the producer does.
type memSource struct {
	topics map[string]map[int32][]Record
}

func newMemSource() *memSource { return &memSource{topics: map[string]map[int32][]Record{}} }

func (m *memSource) append(topic string, partitions int32, key string, value []byte, control string) {
	if m.topics[topic] == nil {
		m.topics[topic] = map[int32][]Record{}
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	p := int32(h.Sum32() % uint32(partitions))
	m.topics[topic][p] = append(m.topics[topic][p], Record{Partition: p, Offset: int64(len(m.topics[topic][p])), Value: value, Control: control})
}

// progress appends a progress control record to every partition, as the producer does.
func (m *memSource) progress(topic string, partitions int32, t int64) {
	m.control(topic, partitions, record.ControlProgress, t)
}

// control appends a control record of kind to every partition.
func (m *memSource) control(topic string, partitions int32, kind string, t int64) {
	if m.topics[topic] == nil {
		m.topics[topic] = map[int32][]Record{}
	}
	for p := range partitions {
		v := record.AppendControl(nil, record.Control{Kind: kind, EventTime: t})
		m.topics[topic][p] = append(m.topics[topic][p], Record{Partition: p, Offset: int64(len(m.topics[topic][p])), Value: v, Control: kind})
	}
}

func (m *memSource) Offsets(_ context.Context, topic string) (map[int32]int64, map[int32]int64, error) {
	starts, ends := map[int32]int64{}, map[int32]int64{}
	for p, recs := range m.topics[topic] {
		starts[p], ends[p] = 0, int64(len(recs))
	}
	return starts, ends, nil
}

func (m *memSource) Read(_ context.Context, topic string, from, to map[int32]int64, fn func(*Record) error) error {
	for p, f := range from {
		for _, r := range m.topics[topic][p][f:to[p]] {
			if err := fn(&r); err != nil {
				return err
			}
		}
	}
	return nil
}

// dataset is generated input with every kind of rule-invalid event, in shuffled order.
type dataset struct {
	rows  []event.Interaction // input order
	users []event.User
}

func genData(seed uint64, nUsers, days, sessions int) dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	start := time.Date(2023, 6, 20, 0, 0, 0, 0, time.UTC).UnixMilli()
	var ds dataset
	actions := []string{"page_view", "edit", "create", "delete", "share", "EDIT", "Page_View"}
	for range sessions {
		user := fmt.Sprintf("u%d", rng.IntN(nUsers))
		t := start + rng.Int64N(int64(days)*86400_000)
		for range 1 + rng.IntN(8) {
			in := event.Interaction{
				UserID: user, Time: t, Action: actions[rng.IntN(len(actions))],
				PageID: fmt.Sprintf("p%d", rng.IntN(50)), DurationMs: rng.Int64N(60_000), AppVersion: "5.7.3",
			}
			switch r := rng.IntN(100); {
			case r < 3:
				in.Action = "bogus"
			case r < 5:
				in.DurationMs = event.MaxDurationMs + 1 + rng.Int64N(10)
			case r < 6:
				in.DurationMs = -1
			}
			ds.rows = append(ds.rows, in)
			if rng.IntN(100) < 4 { // a duplicate, possibly with another duration
				dup := in
				dup.DurationMs = rng.Int64N(1000)
				ds.rows = append(ds.rows, dup)
			}
			t += rng.Int64N(40 * 60_000) // sometimes past the 30-minute gap
		}
	}
	// Shuffled order, but each duplicate keeps coming after its original only by chance: the first
	// in input order wins either way.
	rng.Shuffle(len(ds.rows), func(i, j int) { ds.rows[i], ds.rows[j] = ds.rows[j], ds.rows[i] })
	countries := []string{"US", "DE", "FR", "BR", "IN", ""}
	devices := []string{"iPad", "iPhone", "Android", "Web"}
	plans := []string{"free", "premium", "team"}
	for i := range nUsers {
		if i%10 == 9 {
			continue // users without metadata fall in "unknown"
		}
		u := event.User{UserID: fmt.Sprintf("u%d", i), JoinDate: "2022-01-15",
			Country: countries[rng.IntN(len(countries))], DeviceType: devices[rng.IntN(len(devices))], SubscriptionType: plans[rng.IntN(len(plans))]}
		ds.users = append(ds.users, u)
		if i%7 == 0 { // an update: the later record wins
			u.SubscriptionType = "premium"
			u.Country = "JP"
			ds.users = append(ds.users, u)
		}
	}
	return ds
}

const testPartitions = 3

// load appends rows[from:to] to the source, with a progress record every 500 events and an end record
// carrying the maximum event time, as a replay does.
func (ds dataset) load(src *memSource, from, to int) {
	var maxTime int64
	for i, in := range ds.rows[from:to] {
		src.append("interactions", testPartitions, in.UserID, record.AppendInteraction(nil, &in), "")
		maxTime = max(maxTime, in.Time)
		if i%500 == 499 {
			src.progress("interactions", testPartitions, maxTime)
		}
	}
	src.control("interactions", testPartitions, record.ControlEnd, maxTime)
}

func (ds dataset) loadUsers(src *memSource) {
	for _, u := range ds.users {
		src.append("users", testPartitions, u.UserID, record.AppendUser(nil, &u), "")
	}
}

func newTestCompactor(t *testing.T, store lake.Store, src Source) *Compactor {
	t.Helper()
	c, err := New(Config{Chunk: 3000, Parallel: 2, Lateness: 5 * time.Minute, Logger: slog.New(slog.DiscardHandler)}, store, src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// successor is a compactor whose clock runs an hour ahead: it finds any earlier run's lease expired.
func successor(t *testing.T, store lake.Store, src Source) *Compactor {
	t.Helper()
	c, err := New(Config{Chunk: 3000, Parallel: 2, Lateness: 5 * time.Minute, Logger: slog.New(slog.DiscardHandler),
		Lease: lease.Config{Holder: "successor", Now: func() time.Time { return time.Now().Add(time.Hour) }}}, store, src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cleanLake loads ds into a source and runs one compactor over it into a new lake: the source, the
// lake's directory and its snapshot, which the lakes a test writes otherwise must equal.
func cleanLake(t *testing.T, ds dataset) (*memSource, string, map[string][32]byte) {
	t.Helper()
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	run(t, store, src)
	return src, dir, snapshot(t, dir)
}

// records counts the source's records, control records included.
func (m *memSource) records() int64 {
	var n int64
	for _, parts := range m.topics {
		for _, recs := range parts {
			n += int64(len(recs))
		}
	}
	return n
}

func run(t *testing.T, store lake.Store, src Source) Summary {
	t.Helper()
	sum, err := newTestCompactor(t, store, src).Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return sum
}

func TestRunMatchesReference(t *testing.T) {
	ds := genData(1, 300, 45, 3000)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	for _, zone := range []string{"UTC", "Asia/Kolkata", "America/New_York"} {
		t.Run(zone, func(t *testing.T) {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				t.Skip(err)
			}
			dir := t.TempDir()
			store, err := lake.NewDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(Config{Chunk: 3000, Location: loc, Logger: slog.New(slog.DiscardHandler)}, store, src)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := c.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if sum.BronzeRows != int64(len(ds.rows)) || sum.UserRows != int64(len(ds.users)) || sum.Undecodable != 0 {
				t.Fatalf("summary %+v for %d rows and %d users", sum, len(ds.rows), len(ds.users))
			}
			ref := reference.ComputeRows(ds.rows, ds.users, loc)
			checkGold(t, dir, ref, expectedLate(src, 5*time.Minute, loc))
		})
	}
}

// expectedLate counts late valid events per day the slow way: per partition in offset order.
func expectedLate(src *memSource, lateness time.Duration, loc *time.Location) map[string]int64 {
	late := map[string]int64{}
	seen := map[[4]string]bool{}
	for _, p := range slices.Sorted(func(yield func(int32) bool) {
		for p := range src.topics["interactions"] {
			if !yield(p) {
				return
			}
		}
	}) {
		var maxTime int64 = -1 << 63
		for _, r := range src.topics["interactions"][p] {
			if r.Control != "" {
				c, _ := record.DecodeControl(r.Value)
				maxTime = max(maxTime, c.EventTime)
				continue
			}
			var in event.Interaction
			if err := record.DecodeInteraction(r.Value, &in); err != nil || event.Check(&in) != event.OK {
				continue
			}
			isLate := maxTime != -1<<63 && in.Time < maxTime-lateness.Milliseconds()
			maxTime = max(maxTime, in.Time)
			k := [4]string{in.UserID, fmt.Sprint(in.Time), in.Action, in.PageID}
			if seen[k] {
				continue // a duplicate is counted as a duplicate, not as late
			}
			seen[k] = true
			if isLate {
				late[time.UnixMilli(in.Time).In(loc).Format(time.DateOnly)]++
			}
		}
	}
	return late
}

// readTable reads every partition of a table in a lake directory: partition value → rows.
func readTable[T any](t *testing.T, dir, table string) map[string][]T {
	t.Helper()
	out := map[string][]T{}
	parts, err := os.ReadDir(filepath.Join(dir, table))
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	for _, p := range parts {
		files, err := filepath.Glob(filepath.Join(dir, table, p.Name(), "*.parquet"))
		if err != nil || len(files) != 1 {
			t.Fatalf("%s/%s: want one object, have %v (%v)", table, p.Name(), files, err)
		}
		b, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		rows, err := tables.Read([]T(nil), files[0], b)
		if err != nil {
			t.Fatal(err)
		}
		_, value, _ := strings.Cut(p.Name(), "=")
		out[value] = rows
	}
	return out
}

func checkGold(t *testing.T, dir string, ref *reference.Result, late map[string]int64) {
	t.Helper()
	daily := readTable[tables.DailyMetrics](t, dir, tables.GoldDailyMetrics)
	quality := readTable[tables.DataQuality](t, dir, tables.GoldDataQuality)
	segments := readTable[tables.DailySegment](t, dir, tables.GoldDailySegments)
	sketches := readTable[tables.DailySketch](t, dir, tables.GoldDailySketches)
	sessions := readTable[tables.SilverSession](t, dir, tables.SilverSessions)
	if len(daily) != len(ref.Days) || len(quality) != len(ref.Days) {
		t.Fatalf("gold has %d daily and %d quality partitions, reference %d days", len(daily), len(quality), len(ref.Days))
	}
	for date, want := range ref.Days {
		rows := daily[date]
		if len(rows) != 1 {
			t.Fatalf("%s: %d daily rows", date, len(rows))
		}
		got := rows[0]
		exp := tables.DailyMetrics{
			DAU: int64(want.DAU), WAU: int64(want.WAU), MAU: int64(want.MAU), Stickiness: want.Stickiness,
			Sessions: want.Sessions.Count, AvgSessionDurationS: want.Sessions.AvgDurationS(),
			AvgActionsPerSession: want.Sessions.AvgActions(), P50SessionDurationS: want.P50,
			P95SessionDurationS: want.P95, SessionsPerUser: want.SessionsPerUser,
		}
		if got != exp {
			t.Errorf("%s daily metrics:\n got %+v\nwant %+v", date, got, exp)
		}
		q := want.Quality
		expQ := tables.DataQuality{BronzeRows: q.BronzeRows, ValidEvents: q.ValidEvents, UnknownAction: q.UnknownAction,
			DurationOutOfRange: q.DurationOutOfRange, Duplicate: q.Duplicate, Late: late[date]}
		if len(quality[date]) != 1 || quality[date][0] != expQ {
			t.Errorf("%s data quality: got %+v, want %+v", date, quality[date], expQ)
		}
		gotSeg := map[reference.Segment]tables.DailySegment{}
		for _, s := range segments[date] {
			gotSeg[reference.Segment{Dimension: s.Dimension, Value: s.Value}] = s
		}
		if len(gotSeg) != len(want.Segments) {
			t.Errorf("%s: %d segments, want %d", date, len(gotSeg), len(want.Segments))
		}
		for seg, ws := range want.Segments {
			exp := tables.DailySegment{Dimension: seg.Dimension, Value: seg.Value, DAU: int64(ws.DAU), Sessions: ws.Sessions.Count,
				AvgSessionDurationS: ws.Sessions.AvgDurationS(), AvgActionsPerSession: ws.Sessions.AvgActions()}
			if gotSeg[seg] != exp {
				t.Errorf("%s segment %v: got %+v, want %+v", date, seg, gotSeg[seg], exp)
			}
		}
		if n := len(sketches[date]); n != len(want.Segments)+1 {
			t.Errorf("%s: %d sketches, want %d", date, n, len(want.Segments)+1)
		}
	}
	// Sessions one by one: the duplicates dropped are the later ones (they carry other durations).
	type session struct {
		user                   string
		start, end, n, engaged int64
	}
	var got, want []session
	for _, rows := range sessions {
		for _, s := range rows {
			got = append(got, session{s.UserID, s.Start, s.End, s.Actions, s.EngagedMs})
		}
	}
	for _, s := range ref.Sessions {
		want = append(want, session{s.UserID, s.Start, s.End, s.Actions, s.EngagedMs})
	}
	order := func(a, b session) int { return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.start, b.start)) }
	slices.SortFunc(got, order)
	slices.SortFunc(want, order)
	if !slices.Equal(got, want) {
		t.Errorf("silver has %d sessions, reference %d; they differ", len(got), len(want))
	}
	checkPerformance(t, dir, ref)
	monthly := readTable[tables.MonthlyMetrics](t, dir, tables.GoldMonthlyMetrics)
	if len(monthly) != len(ref.Months) {
		t.Fatalf("gold has %d months, reference %d", len(monthly), len(ref.Months))
	}
	for m, want := range ref.Months {
		exp := tables.MonthlyMetrics{MAU: int64(want.MAU), Sessions: want.Sessions.Count,
			AvgSessionDurationS: want.Sessions.AvgDurationS(), AvgActionsPerSession: want.Sessions.AvgActions(),
			SessionsPerUser: float64(want.Sessions.Count) / float64(want.MAU)}
		if len(monthly[m]) != 1 || monthly[m][0] != exp {
			t.Errorf("%s monthly: got %+v, want %+v", m, monthly[m], exp)
		}
	}
	checkEngagement(t, dir, ref, "1")
}

// snapshot hashes every visible object of a lake directory.
func snapshot(t *testing.T, dir string, prefixes ...string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if strings.HasPrefix(e.Name(), ".") {
			return nil // a killed Put's temporary file, invisible to readers
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == LeaseKey {
			return nil // who held the lake, and when: not the lake's content
		}
		if len(prefixes) > 0 && !slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(rel, pre) }) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(t *testing.T, got, want map[string][32]byte) {
	t.Helper()
	for k, h := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("missing %s", k)
		} else if g != h {
			t.Errorf("differs: %s", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("extra %s", k)
		}
	}
}

func TestSecondRunChangesNothing(t *testing.T) {
	src, dir, before := cleanLake(t, genData(2, 100, 10, 500))
	store, _ := lake.NewDir(dir)
	sum := run(t, store, src)
	if sum.Records != 0 || sum.SilverDays != 0 {
		t.Fatalf("second run did work: %+v", sum)
	}
	diffSnapshots(t, snapshot(t, dir), before)
}

// TestLateRecordsForOldDate runs twice: the second run brings events of an old date, which must
// update that date and its windows exactly as one run over everything would.
func TestNewRecordsForOldDate(t *testing.T) {
	ds := genData(3, 150, 40, 1200)
	// Hold back a sample of the first week's events for the second run.
	var early, rest []event.Interaction
	cut := time.Date(2023, 6, 27, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i, in := range ds.rows {
		if in.Time < cut && i%3 == 0 {
			early = append(early, in)
		} else {
			rest = append(rest, in)
		}
	}
	ds.rows = append(rest, early...)

	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(rest))
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	run(t, store, src)
	ds.load(src, len(rest), len(ds.rows))
	sum := run(t, store, src)
	if sum.GoldDays < event.MAUDays {
		t.Fatalf("second run rewrote daily metrics of %d days, want the windows after the old days: %+v", sum.GoldDays, sum)
	}
	ref := reference.ComputeRows(ds.rows, ds.users, time.UTC)
	checkGold(t, dir, ref, expectedLate(src, 5*time.Minute, time.UTC))

	// Silver and gold equal a single run's over the same records.
	cleanDir := t.TempDir()
	clean, _ := lake.NewDir(cleanDir)
	run(t, clean, src)
	diffSnapshots(t, snapshot(t, dir, "silver/", "gold/"), snapshot(t, cleanDir, "silver/", "gold/"))
}

// crashingStore fails every operation after a number of successful writes, like a process that dies.
type crashingStore struct {
	lake.Store
	mu     sync.Mutex
	writes int
}

func (s *crashingStore) write() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writes <= 0 {
		return false
	}
	s.writes--
	return true
}

var errCrash = fmt.Errorf("test: crashed")

func (s *crashingStore) Put(ctx context.Context, key string, write func(io.Writer) error) error {
	if !s.write() {
		return errCrash
	}
	return s.Store.Put(ctx, key, write)
}

func (s *crashingStore) PutIf(ctx context.Context, key string, v lake.Version, write func(io.Writer) error) (lake.Version, error) {
	if !s.write() {
		return lake.Absent, errCrash
	}
	return s.Store.PutIf(ctx, key, v, write)
}

func (s *crashingStore) Delete(ctx context.Context, key string) error {
	if !s.write() {
		return errCrash
	}
	return s.Store.Delete(ctx, key)
}

func TestCrashAnywhereThenRerun(t *testing.T) {
	src, _, want := cleanLake(t, genData(4, 100, 12, 600))

	// Count the writes of a clean run, then crash at points spread over it.
	counter := &crashingStore{Store: lake.Store(nil), writes: 1 << 30}
	countDir := t.TempDir()
	counter.Store, _ = lake.NewDir(countDir)
	run(t, counter, src)
	total := 1<<30 - counter.writes
	rng := rand.New(rand.NewPCG(4, 4))
	points := []int{0, 1, 2, total - 2, total - 1}
	for range 5 {
		points = append(points, rng.IntN(total))
	}
	for _, n := range points {
		dir := t.TempDir()
		base, _ := lake.NewDir(dir)
		crashing := &crashingStore{Store: base, writes: n}
		if _, err := newTestCompactor(t, crashing, src).Run(context.Background()); err == nil {
			t.Fatalf("crash after %d of %d writes: run succeeded", n, total)
		}
		// The crashed run's lease stays behind: its successor runs after the lease expired.
		if _, err := successor(t, base, src).Run(context.Background()); err != nil {
			t.Fatalf("rerun after a crash after %d writes: %v", n, err)
		}
		t.Run(fmt.Sprintf("crash-after-%d-writes", n), func(t *testing.T) { diffSnapshots(t, snapshot(t, dir), want) })
	}
}

func TestBackfillRebuildsTheSameLake(t *testing.T) {
	_, dir, want := cleanLake(t, genData(9, 100, 20, 600))
	store, _ := lake.NewDir(dir)
	for _, table := range []string{"silver", "gold"} {
		if err := os.RemoveAll(filepath.Join(dir, table)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := New(Config{Parallel: 3, Logger: slog.New(slog.DiscardHandler)}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	// silver/users is rebuilt only by a run that reads users; put it back as the run left it.
	if _, err := c.rebuildUsers(context.Background()); err != nil {
		t.Fatal(err)
	}
	sum, err := c.Backfill(context.Background(), -1<<31, 1<<31-1)
	if err != nil {
		t.Fatal(err)
	}
	if sum.SilverDays != 21 {
		t.Fatalf("backfill rebuilt %d days, want 21: %+v", sum.SilverDays, sum)
	}
	diffSnapshots(t, snapshot(t, dir), want)
}

func TestUndecodableRecordsAreSkipped(t *testing.T) {
	ds := genData(10, 20, 3, 50)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, 10)
	src.append("interactions", testPartitions, "x", []byte(`{"user_id":`), "")
	src.append("users", testPartitions, "x", []byte(`not json`), "")
	ds.load(src, 10, len(ds.rows))
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	sum := run(t, store, src)
	if sum.Undecodable != 2 || sum.BronzeRows != int64(len(ds.rows)) {
		t.Fatalf("summary %+v, want 2 undecodable and %d bronze rows", sum, len(ds.rows))
	}
	checkGold(t, dir, reference.ComputeRows(ds.rows, ds.users, time.UTC), expectedLate(src, 5*time.Minute, time.UTC))
}

func TestUserMovesCountry(t *testing.T) {
	src := newMemSource()
	u := event.User{UserID: "u1", JoinDate: "2022-01-15", Country: "FR", DeviceType: "iPad", SubscriptionType: "free"}
	src.append("users", testPartitions, u.UserID, record.AppendUser(nil, &u), "")
	in := event.Interaction{UserID: "u1", Time: time.Date(2023, 7, 1, 10, 0, 0, 0, time.UTC).UnixMilli(), Action: "edit", PageID: "p1", DurationMs: 5}
	src.append("interactions", testPartitions, in.UserID, record.AppendInteraction(nil, &in), "")
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	run(t, store, src)

	u.Country = "DE"
	src.append("users", testPartitions, u.UserID, record.AppendUser(nil, &u), "")
	in.Time += 3600_000
	src.append("interactions", testPartitions, in.UserID, record.AppendInteraction(nil, &in), "")
	run(t, store, src)

	users := readTable[tables.SilverUser](t, dir, tables.SilverUsers)
	if len(users) != 1 || len(users["DE"]) != 1 || users["DE"][0].UserID != "u1" || *users["DE"][0].JoinDate != 19007 {
		t.Fatalf("silver users = %+v", users)
	}
	segs := readTable[tables.DailySegment](t, dir, tables.GoldDailySegments)["2023-07-01"]
	if !slices.ContainsFunc(segs, func(s tables.DailySegment) bool {
		return s.Dimension == "country" && s.Value == "DE" && s.DAU == 1 && s.Sessions == 2
	}) {
		t.Fatalf("the rebuilt day has the user's new country: %+v", segs)
	}
}

// TestEndRecordAdvancesEventTime: an end record's event time counts for lateness like a progress
// record's, as in the consumer, which applies it before closing every session.
func TestEndRecordAdvancesEventTime(t *testing.T) {
	src := newMemSource()
	at := func(hour int) event.Interaction {
		return event.Interaction{UserID: "a", Time: time.Date(2023, 7, 1, hour, 0, 0, 0, time.UTC).UnixMilli(),
			Action: "edit", PageID: fmt.Sprint("p", hour), DurationMs: 5}
	}
	for _, in := range []event.Interaction{at(10)} {
		src.append("interactions", testPartitions, in.UserID, record.AppendInteraction(nil, &in), "")
	}
	// The replay's maximum came from another partition; the next replay brings an older event.
	src.control("interactions", testPartitions, record.ControlEnd, at(12).Time)
	late := at(11)
	src.append("interactions", testPartitions, late.UserID, record.AppendInteraction(nil, &late), "")

	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	run(t, store, src)
	q := readTable[tables.DataQuality](t, dir, tables.GoldDataQuality)["2023-07-01"]
	if len(q) != 1 || q[0].ValidEvents != 2 || q[0].Late != 1 {
		t.Fatalf("data quality = %+v, want 2 valid events, 1 late", q)
	}
	if want := expectedLate(src, 5*time.Minute, time.UTC)["2023-07-01"]; want != 1 {
		t.Fatalf("expectedLate = %d, want 1", want)
	}
}
