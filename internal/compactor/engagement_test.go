package compactor

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/reference"
	"github.com/notestream/notestream/internal/tables"
)

// checkEngagement compares gold/power_users (top pct), gold/session_frequency and
// gold/cohort_retention with the reference's naive computation.
func checkEngagement(t *testing.T, dir string, ref *reference.Result, pct string) {
	t.Helper()
	power := readTable[tables.PowerUser](t, dir, tables.GoldPowerUsers)
	freq := readTable[tables.SessionFrequency](t, dir, tables.GoldSessionFrequency)
	if len(power) != len(ref.Months) || len(freq) != len(ref.Months) {
		t.Fatalf("gold has %d power_users and %d session_frequency months, reference %d", len(power), len(freq), len(ref.Months))
	}
	same := func(got *float64, want float64) bool {
		if got == nil {
			return math.IsNaN(want)
		}
		return *got == want
	}
	for m := range ref.Months {
		top, shares, active, _ := ref.PowerUsers(m, pct)
		rows := power[m]
		if len(rows) != len(top) {
			t.Errorf("%s: %d power users, reference %d of %d active", m, len(rows), len(top), active)
			continue
		}
		for i, r := range rows {
			w := top[i]
			if r.Rank != int64(i+1) || r.UserID != w.UserID || r.EngagedMs != w.EngagedMs || r.Events != w.Events ||
				r.Sessions != w.Sessions || r.ActiveDays != w.ActiveDays || !same(r.ShareOfEngagedMs, shares[i]) {
				t.Errorf("%s power user %d: got %+v, want %+v share %v", m, i+1, r, w, shares[i])
			}
		}
		labels, users, active := ref.Frequency(m)
		if len(freq[m]) != len(labels) {
			t.Fatalf("%s: %d frequency rows", m, len(freq[m]))
		}
		for i, r := range freq[m] {
			want := math.NaN()
			if active > 0 {
				want = float64(users[i]) / float64(active)
			}
			if r.Bucket != labels[i] || r.Users != users[i] || !same(r.Share, want) {
				t.Errorf("%s frequency %d: got %+v, want %s %d", m, i, r, labels[i], users[i])
			}
		}
	}
	cohorts := readTable[tables.CohortRetention](t, dir, tables.GoldCohortRetention)
	var got []reference.CohortCell
	for _, week := range slices.Sorted(maps.Keys(cohorts)) {
		for _, r := range cohorts[week] {
			got = append(got, reference.CohortCell{Week: week, Basis: r.Basis, Offset: int(r.WeekOffset), Size: int(r.CohortSize),
				Retained: int(r.RetainedUsers), Complete: r.Complete})
			if r.Retention != float64(r.RetainedUsers)/float64(r.CohortSize) {
				t.Errorf("%s %+v: retention %v", week, r, r.Retention)
			}
		}
	}
	want := ref.Cohorts()
	if len(got) != len(want) {
		t.Fatalf("gold has %d cohort cells, reference %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("cohort cell %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestEngagementOptions: another top percentage, join dates inside the data (the generated ones are
// all before it), and a new join date moving a user between cohorts with no new events.
func TestEngagementOptions(t *testing.T) {
	ds := genData(11, 120, 30, 900)
	for i := range ds.users {
		ds.users[i].JoinDate = time.Date(2023, 6, 10+i%30, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	}
	loc, err := time.LoadLocation("Pacific/Kiritimati") // UTC+14: most UTC Sundays are Mondays there
	if err != nil {
		t.Skip(err)
	}
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	pct, err := engagement.ParsePct("12.5")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Chunk: 3000, Location: loc, PowerUsersPct: pct, Logger: slog.New(slog.DiscardHandler)}, store, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, dir, reference.ComputeRows(ds.rows, ds.users, loc), "12.5")

	// Only metadata changes: a user moves to another join_date cohort, with no new events.
	moved := event.User{UserID: "u1", JoinDate: "2023-07-05", Country: "US", DeviceType: "iPad", SubscriptionType: "free"}
	src.append("users", testPartitions, moved.UserID, record.AppendUser(nil, &moved), "")
	ds.users = append(ds.users, moved)
	if _, err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, dir, reference.ComputeRows(ds.rows, ds.users, loc), "12.5")
}

// countingStore counts the objects a run writes and reads, by key.
type countingStore struct {
	lake.Store
	mu         sync.Mutex
	puts, gets map[string]int
}

func (s *countingStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts, s.gets = map[string]int{}, map[string]int{}
}

func (s *countingStore) Put(ctx context.Context, key string, write func(io.Writer) error) error {
	s.mu.Lock()
	s.puts[key]++
	s.mu.Unlock()
	return s.Store.Put(ctx, key, write)
}

func (s *countingStore) PutIf(ctx context.Context, key string, v lake.Version, write func(io.Writer) error) (lake.Version, error) {
	s.mu.Lock()
	s.puts[key]++
	s.mu.Unlock()
	return s.Store.PutIf(ctx, key, v, write)
}

func (s *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	s.gets[key]++
	s.mu.Unlock()
	return s.Store.Get(ctx, key)
}

// Open counts as a read, like Get.
func (s *countingStore) Open(ctx context.Context, key string) (lake.ObjectReader, error) {
	s.mu.Lock()
	s.gets[key]++
	s.mu.Unlock()
	return s.Store.Open(ctx, key)
}

// count is how many of keys start with prefix.
func count(keys map[string]int, prefix string) int {
	n := 0
	for k := range keys {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// TestCohortsIncrementalEqualsFull replays data night by night, in three zones (UTC, UTC+14 and
// UTC-7/-8, where weeks start on Monday in the zone): each night brings the next day's events, some
// events held back from earlier days (late events touching old weeks), and sometimes new join dates
// or a user with metadata only; one night brings metadata alone. After every night the lake's
// cohort retention and cohort index equal those of a lake built in one run over the same records,
// and at the end they equal the naive reference. Nights write only the cohort weeks that change and
// read only the silver days of their own windows.
func TestCohortsIncrementalEqualsFull(t *testing.T) {
	for seed, zone := range []string{"UTC", "Pacific/Kiritimati", "America/Los_Angeles"} {
		t.Run(zone, func(t *testing.T) {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				t.Skip(err)
			}
			rng := rand.New(rand.NewPCG(uint64(seed), 15))
			const days, nights = 30, 6
			ds := genData(uint64(20+seed), 50, days, 300)
			start := event.DayOf(time.Date(2023, 6, 20, 0, 0, 0, 0, time.UTC).UnixMilli(), loc)
			randomJoin := func() string { return event.Date(start - 10 + rng.Int32N(days+20)) }
			for i := range ds.users {
				ds.users[i].JoinDate = randomJoin()
			}
			first := event.DayOf(slices.MinFunc(ds.rows, func(a, b event.Interaction) int { return cmp.Compare(a.Time, b.Time) }).Time, loc)
			held := map[string]bool{} // some users of the first day
			for _, in := range ds.rows {
				if event.DayOf(in.Time, loc) == first && rng.IntN(3) == 0 {
					held[in.UserID] = true
				}
			}
			week1 := engagement.WeekOf(first) + 7
			// Night 0 brings every day but the last few, night i the i-th of them, and a tenth of all
			// events come a random number of nights late. Night lateOnly brings all the second week's
			// events of some users of the first day: late events that move no one's cohort and no end
			// of the lake, so only cohort weeks up to the second change. The last night brings
			// metadata alone.
			cut := start + days - nights + 1
			lateOnly := nights
			night := make([][]event.Interaction, nights+2)
			for _, in := range ds.rows {
				d := event.DayOf(in.Time, loc)
				n := min(nights-1, max(0, int(d-cut)+1))
				switch {
				case engagement.WeekOf(d) == week1 && held[in.UserID]:
					n = lateOnly
				case d > first && rng.IntN(10) == 0:
					n += rng.IntN(nights - n)
				}
				night[n] = append(night[n], in)
			}

			cfg := Config{Chunk: 3000, Parallel: 2, Location: loc, Logger: slog.New(slog.DiscardHandler)}
			src := newMemSource()
			dir := t.TempDir()
			base, _ := lake.NewDir(dir)
			store := &countingStore{Store: base}
			var rows []event.Interaction // input order
			cutNights := 0
			users := slices.Clone(ds.users)
			for _, u := range users {
				src.append("users", testPartitions, u.UserID, record.AppendUser(nil, &u), "")
			}
			for i, evs := range night {
				var moved []event.User
				if i == nights+1 || (i > 0 && i < lateOnly && rng.IntN(3) == 0) {
					// Only the join date changes: silver keeps the segments sessions had when built.
					id := users[rng.IntN(len(users))].UserID
					var u event.User
					for _, v := range users { // the latest record
						if v.UserID == id {
							u = v
						}
					}
					u.JoinDate = randomJoin()
					moved = append(moved, u)
					if rng.IntN(2) == 0 { // a user who is never active
						moved = append(moved, event.User{UserID: fmt.Sprintf("new%d", i), JoinDate: randomJoin(), Country: "NZ"})
					}
				}
				for _, u := range moved {
					src.append("users", testPartitions, u.UserID, record.AppendUser(nil, &u), "")
				}
				users = append(users, moved...)
				step := dataset{rows: evs}
				if len(evs) > 0 {
					step.load(src, 0, len(evs))
				}
				rows = append(rows, evs...)

				store.reset()
				c, err := New(cfg, store, src)
				if err != nil {
					t.Fatal(err)
				}
				sum, err := c.Run(context.Background())
				if err != nil {
					t.Fatalf("night %d: %v", i, err)
				}
				cleanDir := t.TempDir()
				clean, _ := lake.NewDir(cleanDir)
				cc, _ := New(cfg, clean, src)
				if _, err := cc.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				diffSnapshots(t, snapshot(t, dir, "gold/", "silver/", CohortIndexKey), snapshot(t, cleanDir, "gold/", "silver/", CohortIndexKey))
				if t.Failed() {
					t.Fatalf("night %d (%d events, %d metadata rows): the lake differs from a full rebuild's", i, len(evs), len(moved))
				}

				cohortPuts := count(store.puts, tables.GoldCohortRetention+"/")
				cohorts := readTable[tables.CohortRetention](t, dir, tables.GoldCohortRetention)
				cohortWeeks := len(cohorts)
				if rows := cohorts[slices.Max(slices.Collect(maps.Keys(cohorts)))]; !rows[len(rows)-1].Complete {
					cutNights++ // the last week is cut by the data's end
				}
				silverDays := count(store.gets, tables.SilverSessions+"/")
				t.Logf("night %d: %d events, %d metadata rows; rebuilt %d days; wrote %d of %d cohort weeks; read %d days' silver sessions",
					i, len(evs), len(moved), sum.SilverDays, cohortPuts, cohortWeeks, silverDays)
				switch i {
				case lateOnly:
					if len(evs) > 0 && (cohortPuts == 0 || cohortPuts > 2) || cohortWeeks < 4 {
						t.Fatalf("late events of the second week rewrote %d of %d cohort weeks, want 1 or 2", cohortPuts, cohortWeeks)
					}
				case nights + 1: // the moved users' old and new join cohorts, and no day read
					if cohortPuts > 2*len(moved) || silverDays != 0 {
						t.Fatalf("metadata-only night wrote %d cohort weeks and read %d silver days", cohortPuts, silverDays)
					}
				}
			}
			if cutNights == 0 {
				t.Fatal("no night ended inside a week")
			}
			checkEngagement(t, dir, reference.ComputeRows(rows, users, loc), "1")
		})
	}
}

// keyLog records the keys a store writes, in order.
type keyLog struct {
	lake.Store
	mu   sync.Mutex
	keys []string
}

func (s *keyLog) Put(ctx context.Context, key string, write func(io.Writer) error) error {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return s.Store.Put(ctx, key, write)
}

func (s *keyLog) PutIf(ctx context.Context, key string, v lake.Version, write func(io.Writer) error) (lake.Version, error) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return s.Store.PutIf(ctx, key, v, write)
}

func (s *keyLog) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	s.keys = append(s.keys, "delete "+key)
	s.mu.Unlock()
	return s.Store.Delete(ctx, key)
}

// TestCohortsCrashThenRerun crashes an incremental run (new days, a late event for the first week
// and a new join date) at points around its cohort partitions and index, and elsewhere; the rerun
// must leave the lake the run would have left.
func TestCohortsCrashThenRerun(t *testing.T) {
	ds := genData(31, 80, 20, 500)
	cut := time.Date(2023, 7, 6, 0, 0, 0, 0, time.UTC).UnixMilli()
	var early, late []event.Interaction
	for i, in := range ds.rows {
		if in.Time < cut && i%9 != 0 {
			early = append(early, in)
		} else {
			late = append(late, in) // the later days, and some events of the first ones
		}
	}
	ds.rows = append(early, late...)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(early))
	nightDir := t.TempDir()
	night, _ := lake.NewDir(nightDir)
	run(t, night, src)
	ds.load(src, len(early), len(ds.rows))
	moved := ds.users[3]
	moved.JoinDate = "2023-06-28"
	src.append("users", testPartitions, moved.UserID, record.AppendUser(nil, &moved), "")

	copyLake := func() (string, lake.Store) {
		t.Helper()
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(nightDir)); err != nil {
			t.Fatal(err)
		}
		store, _ := lake.NewDir(dir)
		return dir, store
	}
	wantDir, wantStore := copyLake()
	log := &keyLog{Store: wantStore}
	if sum := run(t, log, src); sum.CohortWeeks == 0 {
		t.Fatalf("the incremental run rewrote no cohort week: %+v", sum)
	}
	want := snapshot(t, wantDir)
	index := slices.Index(log.keys, CohortIndexKey)
	firstCohort := slices.IndexFunc(log.keys, func(k string) bool { return strings.HasPrefix(k, tables.GoldCohortRetention) })
	if index < 0 || firstCohort < 0 || firstCohort > index {
		t.Fatalf("writes: cohort partition at %d, index at %d", firstCohort, index)
	}
	points := []int{0, firstCohort, firstCohort + 1, index - 1, index, index + 1, len(log.keys) - 1}
	rng := rand.New(rand.NewPCG(31, 1))
	for range 3 {
		points = append(points, rng.IntN(len(log.keys)))
	}
	for _, n := range points {
		dir, base := copyLake()
		crashing := &crashingStore{Store: base, writes: n}
		if _, err := newTestCompactor(t, crashing, src).Run(context.Background()); err == nil {
			t.Fatalf("crash after %d of %d writes: run succeeded", n, len(log.keys))
		}
		// The crashed run's lease stays behind: its successor runs after the lease expired.
		if _, err := successor(t, base, src).Run(context.Background()); err != nil {
			t.Fatalf("rerun after a crash after %d writes: %v", n, err)
		}
		t.Run(fmt.Sprintf("crash-after-%d-writes", n), func(t *testing.T) { diffSnapshots(t, snapshot(t, dir), want) })
	}
}
