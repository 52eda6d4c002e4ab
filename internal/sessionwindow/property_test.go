package sessionwindow

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has

	"github.com/notestream/notestream/internal/event"
)

// naiveSessions is the batch definition of SPEC section 3, written as plainly as possible: drop
// rule-invalid events, drop duplicates (first in input order wins), then per user sort by time (ties:
// input order) and split where the gap is gap or more or the formatted local date differs.
func naiveSessions(evs []event.Interaction, loc *time.Location, gap time.Duration) []Session {
	type dupKey struct {
		user, action, page string
		t                  int64
	}
	seen := map[dupKey]bool{}
	byUser := map[string][]event.Interaction{}
	for _, ev := range evs {
		if event.Check(&ev) != event.OK {
			continue
		}
		k := dupKey{ev.UserID, ev.Action, ev.PageID, ev.Time}
		if seen[k] {
			continue
		}
		seen[k] = true
		byUser[ev.UserID] = append(byUser[ev.UserID], ev)
	}
	date := func(t int64) string { return time.UnixMilli(t).In(loc).Format("2006-01-02") }
	var out []Session
	for user, list := range byUser {
		slices.SortStableFunc(list, func(a, b event.Interaction) int { return cmp.Compare(a.Time, b.Time) })
		var cur *Session
		for i, ev := range list {
			if i == 0 || ev.Time-list[i-1].Time >= gap.Milliseconds() || date(ev.Time) != date(list[i-1].Time) {
				if cur != nil {
					out = append(out, *cur)
				}
				cur = &Session{UserID: user, Start: ev.Time}
			}
			cur.End = ev.Time
			cur.Actions++
			cur.EngagedMs += ev.DurationMs
		}
		out = append(out, *cur)
	}
	sortSessions(out)
	return out
}

func sortSessions(s []Session) {
	slices.SortFunc(s, func(a, b Session) int {
		return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.Start, b.Start))
	})
}

var propertyZones = []string{"UTC", "America/New_York", "Europe/Berlin", "America/Santiago", "Asia/Kolkata", "Australia/Lord_Howe"}

// genStream makes one stream in event-time order around an interesting instant of loc: a DST
// transition or a midnight. Gaps cluster at and around exactly 30 minutes; there are equal timestamps,
// duplicates (in other letter cases and with other durations), and rule-invalid rows.
func genStream(r *rand.Rand, loc *time.Location, users int) []event.Interaction {
	day := time.Date(2024, time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, loc)
	base := day.UnixMilli()
	if r.IntN(2) == 0 {
		if _, end := day.ZoneBounds(); !end.IsZero() {
			base = end.UnixMilli()
		}
	}
	base -= r.Int64N(3 * 3600_000)
	gaps := []int64{0, 1, 1000, 29*60_000 + 59_999, 30 * 60_000, 30*60_000 + 1, 30*60_000 - 1}
	actions := []string{"page_view", "EDIT", "create", "Delete", "share"}
	var evs []event.Interaction
	for u := range users {
		user := fmt.Sprintf("u%d", u)
		t := base + r.Int64N(2*3600_000)
		for range 1 + r.IntN(25) {
			switch r.IntN(4) {
			case 0:
				t += gaps[r.IntN(len(gaps))]
			case 1:
				t += r.Int64N(40 * 60_000)
			case 2:
				t += r.Int64N(10 * 60_000)
			default:
				t += r.Int64N(3 * 3600_000)
			}
			ev := event.Interaction{
				UserID:     user,
				Time:       t,
				Action:     actions[r.IntN(len(actions))],
				PageID:     fmt.Sprintf("p%d", r.IntN(3)),
				DurationMs: r.Int64N(120_000),
			}
			switch r.IntN(20) {
			case 0:
				ev.Action = "view"
			case 1:
				ev.DurationMs = event.MaxDurationMs + 1
			}
			evs = append(evs, ev)
			if r.IntN(8) == 0 { // a duplicate of an earlier event of this user
				d := evs[len(evs)-1-r.IntN(min(3, len(evs)))]
				if d.UserID == user {
					d.DurationMs = r.Int64N(1000)
					evs = append(evs, d)
				}
			}
		}
	}
	slices.SortStableFunc(evs, func(a, b event.Interaction) int { return cmp.Compare(a.Time, b.Time) })
	return evs
}

// feed runs evs through a window, draining, advancing and snapshotting at random points when r is not
// nil, and returns each event's reason and every session in output order.
func feed(t *testing.T, cfg Config, evs []event.Interaction, progress []int64, r *rand.Rand) ([]event.Reason, []Session) {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reasons := make([]event.Reason, len(evs))
	var out []Session
	for i, ev := range evs {
		reasons[i] = w.Add(&ev)
		if progress != nil {
			w.AdvanceTo(progress[i])
		}
		if r == nil {
			continue
		}
		if r.IntN(10) == 0 {
			out = w.Drain(out)
		}
		if r.IntN(30) == 0 {
			out = w.Drain(out) // a snapshot holds open sessions only
			snap := w.AppendSnapshot(nil)
			if w, err = Restore(cfg, snap); err != nil {
				t.Fatalf("restore after event %d: %v", i, err)
			}
			if again := w.AppendSnapshot(nil); !slices.Equal(again, snap) {
				t.Fatalf("snapshot after restore differs (%d vs %d bytes)", len(again), len(snap))
			}
		}
	}
	w.Flush()
	if w.Open() != 0 {
		t.Fatalf("Open() = %d after Flush", w.Open())
	}
	return reasons, w.Drain(out)
}

func checkSessions(t *testing.T, got, want []Session) {
	t.Helper()
	got = slices.Clone(got)
	sortSessions(got)
	if !slices.Equal(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w Session
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Fatalf("%d sessions, want %d; first difference at %d:\n got %+v\nwant %+v", len(got), len(want), i, g, w)
			}
		}
	}
}

func TestPropertyStreamEqualsBatch(t *testing.T) {
	streams := 3000
	if testing.Short() {
		streams = 300
	}
	locs := make([]*time.Location, len(propertyZones))
	for i, z := range propertyZones {
		var err error
		if locs[i], err = time.LoadLocation(z); err != nil {
			t.Fatal(err)
		}
	}
	for seed := range uint64(streams) {
		r := rand.New(rand.NewPCG(seed, 3))
		loc := locs[r.IntN(len(locs))]
		users := 1 + r.IntN(4)
		if r.IntN(5) == 0 {
			users = 50 + r.IntN(150)
		}
		sorted := genStream(r, loc, users)
		lateness := 5 * time.Minute
		cfg := Config{Location: loc, Lateness: lateness}
		t.Run(fmt.Sprintf("seed=%d/%s/users=%d", seed, loc, users), func(t *testing.T) {
			// Stream: events shuffled within the lateness are never late, and with progress
			// records up to each arrival key the sessions are exactly the batch ones. Input order
			// decides which duplicate counts, so the reference reads the shuffled order too.
			evs, progress := shuffleWithin(r, sorted, lateness.Milliseconds())
			want := naiveSessions(evs, loc, 30*time.Minute)
			reasons, plain := feed(t, cfg, evs, nil, nil)
			if slices.Contains(reasons, event.Late) {
				t.Fatal("an event shuffled within the lateness was late")
			}
			checkSessions(t, plain, want)
			reasons2, withProgress := feed(t, cfg, evs, progress, nil)
			if !slices.Equal(reasons2, reasons) {
				t.Fatal("progress records changed an event's reason")
			}
			checkSessions(t, withProgress, want)
			// Draining, snapshots and restores change nothing, not even the order.
			_, interrupted := feed(t, cfg, evs, progress, rand.New(rand.NewPCG(seed, 4)))
			if !slices.Equal(interrupted, withProgress) {
				for i := range max(len(interrupted), len(withProgress)) {
					var x, y Session
					if i < len(interrupted) {
						x = interrupted[i]
					}
					if i < len(withProgress) {
						y = withProgress[i]
					}
					t.Logf("%v %+v\n   %+v", x == y, x, y)
				}
				t.Fatal("drain/snapshot/restore changed the output")
			}
			checkOrder(t, interrupted, cfg)

			// Any disorder: the sessions are the batch ones over the events that were not late.
			wild := wildShuffle(r, sorted)
			reasons, got := feed(t, cfg, wild, nil, rand.New(rand.NewPCG(seed, 5)))
			checkLateRule(t, wild, reasons, lateness.Milliseconds())
			var accepted []event.Interaction
			for i, ev := range wild {
				if reasons[i] != event.Late {
					accepted = append(accepted, ev)
				}
			}
			checkSessions(t, got, naiveSessions(accepted, loc, 30*time.Minute))

			// Batch: any order at all, nothing late.
			r.Shuffle(len(wild), func(i, j int) { wild[i], wild[j] = wild[j], wild[i] })
			batch := Config{Location: loc, Lateness: Unbounded}
			reasons, got = feed(t, batch, wild, nil, rand.New(rand.NewPCG(seed, 6)))
			if slices.Contains(reasons, event.Late) {
				t.Fatal("late event in batch mode")
			}
			checkSessions(t, got, naiveSessions(wild, loc, 30*time.Minute))
		})
	}
}

// shuffleWithin reorders events by time plus a random delay under lateness, and returns for each
// position a progress value (its arrival key) that no later event is late against.
func shuffleWithin(r *rand.Rand, sorted []event.Interaction, lateness int64) ([]event.Interaction, []int64) {
	type arrival struct {
		key int64
		ev  event.Interaction
	}
	a := make([]arrival, len(sorted))
	for i, ev := range sorted {
		a[i] = arrival{ev.Time + r.Int64N(lateness), ev}
	}
	slices.SortStableFunc(a, func(x, y arrival) int { return cmp.Compare(x.key, y.key) })
	evs := make([]event.Interaction, len(a))
	progress := make([]int64, len(a))
	for i := range a {
		evs[i], progress[i] = a[i].ev, a[i].key
	}
	return evs, progress
}

// checkOrder checks the output is sorted by (deadline, user, start).
func checkOrder(t *testing.T, out []Session, cfg Config) {
	t.Helper()
	d := newDays(cfg.Location)
	key := func(s Session) (int64, string, int64) {
		return min(s.End+30*60_000, d.end(s.Start)), s.UserID, s.Start
	}
	for i := 1; i < len(out); i++ {
		a1, a2, a3 := key(out[i-1])
		b1, b2, b3 := key(out[i])
		if cmp.Or(cmp.Compare(a1, b1), cmp.Compare(a2, b2), cmp.Compare(a3, b3)) > 0 {
			t.Fatalf("output out of order at %d: %+v then %+v", i, out[i-1], out[i])
		}
	}
}

// wildShuffle swaps events with neighbours up to 40 positions away, beyond any lateness, so that some
// events are late and some only out of order.
func wildShuffle(r *rand.Rand, sorted []event.Interaction) []event.Interaction {
	wild := slices.Clone(sorted)
	for range len(wild) / 10 {
		i := r.IntN(len(wild))
		j := min(i+r.IntN(1+r.IntN(40)), len(wild)-1)
		wild[i], wild[j] = wild[j], wild[i]
	}
	return wild
}

// checkLateRule checks the rule the compactor relies on to flag late events without a window: an event
// is late iff it passes event.Check and its time is below (the highest time of the earlier events
// that passed it) − lateness.
func checkLateRule(t *testing.T, evs []event.Interaction, reasons []event.Reason, lateness int64) {
	t.Helper()
	high := int64(math.MinInt64)
	for i, ev := range evs {
		if event.Check(&ev) != event.OK {
			continue
		}
		if late := high > math.MinInt64+lateness && ev.Time < high-lateness; late != (reasons[i] == event.Late) {
			t.Fatalf("event %d at %d, highest earlier %d: reason %v", i, ev.Time, high, reasons[i])
		}
		high = max(high, ev.Time)
	}
}
