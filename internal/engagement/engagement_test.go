package engagement

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/reference"
)

func TestParsePct(t *testing.T) {
	f := func(in string, n, want int, ok bool) {
		t.Helper()
		p, err := ParsePct(in)
		if (err == nil) != ok {
			t.Fatalf("ParsePct(%q): err %v, want ok=%v", in, err, ok)
		}
		if ok && p.Top(n) != want {
			t.Fatalf("ParsePct(%q).Top(%d) = %d, want %d", in, n, p.Top(n), want)
		}
	}
	f("1", 0, 0, true)
	f("1", 1, 1, true)
	f("1", 100, 1, true)
	f("1", 101, 2, true)
	f("0.1", 1000, 1, true)
	f("0.1", 1001, 2, true)
	f("100", 7, 7, true)
	f("33.3", 1000, 333, true) // 33.3 × 10 exactly: a float would give 333.00000000000006 → 334
	f("0.7", 1000, 7, true)    // 0.7 × 1000 / 100 = 7 exactly; as floats 7.000000000000001 → 8
	f("0", 10, 0, false)
	f("100.01", 10, 0, false)
	f("-1", 10, 0, false)
	f("1e1", 10, 0, false)
	f(".5", 10, 0, false)
	f("5.", 10, 0, false)
	f("", 10, 0, false)
	f("NaN", 10, 0, false)
	for _, s := range []string{"1", "0.5", "12.25", "100"} {
		p, _ := ParsePct(s)
		if p.String() != s {
			t.Errorf("ParsePct(%q).String() = %q", s, p.String())
		}
	}
	if (Pct{}).Top(250) != 3 || DefaultPct.String() != "1" {
		t.Fatal("the zero Pct must be the default 1")
	}
}

func TestWeekOf(t *testing.T) {
	for d := int32(-800); d < 800; d++ {
		date := time.Unix(int64(d)*86400, 0).UTC()
		w := WeekOf(d)
		mon := time.Unix(int64(w)*86400, 0).UTC()
		if mon.Weekday() != time.Monday || w > d || d-w > 6 {
			t.Fatalf("WeekOf(%s) = %s", date.Format(time.DateOnly), mon.Format(time.DateOnly))
		}
	}
}

// world is random activity: a few users with many ties in engaged time, some without metadata, some
// with join dates before, inside and after the data, and data that ends mid-week.
type world struct {
	rows  []event.Interaction
	users []event.User
	loc   *time.Location
}

func genWorld(rng *rand.Rand, loc *time.Location) world {
	w := world{loc: loc}
	// Start on a random weekday, so the first and last weeks are cut by the data's ends.
	start := time.Date(2023, 1, 1+rng.IntN(7), rng.IntN(24), 0, 0, 0, loc).UnixMilli()
	days := 1 + rng.IntN(80)
	nUsers := 1 + rng.IntN(40)
	for range rng.IntN(400) {
		in := event.Interaction{
			UserID:     fmt.Sprintf("u%02d", rng.IntN(nUsers)),
			Time:       start + rng.Int64N(int64(days)*86400_000),
			Action:     "edit",
			PageID:     fmt.Sprint(rng.IntN(5)),
			DurationMs: 1000 * rng.Int64N(4), // few values: many ties, some zero
		}
		if rng.IntN(20) == 0 {
			in.DurationMs = event.MaxDurationMs + 1 // an outlier is rule-invalid
		}
		w.rows = append(w.rows, in)
	}
	for i := range nUsers + 5 { // some users with metadata are never active
		if rng.IntN(4) == 0 {
			continue // no metadata
		}
		join := time.UnixMilli(start).In(loc).AddDate(0, 0, rng.IntN(days+60)-30).Format(time.DateOnly)
		w.users = append(w.users, event.User{UserID: fmt.Sprintf("u%02d", i), JoinDate: join, Country: "US", DeviceType: "iPad", SubscriptionType: "free"})
	}
	return w
}

// dayOf is the local calendar date of t as a day number.
func dayOf(t int64, loc *time.Location) int32 {
	y, m, d := time.UnixMilli(t).In(loc).Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func date(d int32) string { return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly) }

func TestPropertiesAgainstReference(t *testing.T) {
	var zones []*time.Location
	for _, z := range []string{"UTC", "Pacific/Kiritimati", "America/Los_Angeles", "Asia/Kolkata"} {
		if loc, err := time.LoadLocation(z); err == nil {
			zones = append(zones, loc)
		}
	}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		loc := zones[int(seed)%len(zones)]
		w := genWorld(rng, loc)
		ref := reference.ComputeRows(w.rows, w.users, loc)
		checkWorld(t, fmt.Sprintf("seed %d %s", seed, loc), w, ref, []string{"1", "50", "0.5", "33.3", "100"}[seed%5])
	}
}

// checkWorld computes the analytics with this package from the valid events the reference kept, and
// compares them with the reference's naive answers.
func checkWorld(t *testing.T, name string, w world, ref *reference.Result, pct string) {
	t.Helper()
	// Valid events and sessions per user, from the reference's sessions (the session rules are not
	// under test here).
	type agg struct {
		User
		days map[int32]bool
	}
	months := map[string]map[string]*agg{}
	get := func(month, id string) *agg {
		if months[month] == nil {
			months[month] = map[string]*agg{}
		}
		a := months[month][id]
		if a == nil {
			a = &agg{User: User{UserID: id}, days: map[int32]bool{}}
			months[month][id] = a
		}
		return a
	}
	ids := map[string]int32{}
	number := func(id string) int32 {
		n, ok := ids[id]
		if !ok {
			n = int32(len(ids))
			ids[id] = n
		}
		return n
	}
	activeDays := map[int32]map[int32]bool{}
	seen := map[[4]string]bool{}
	for _, in := range w.rows {
		k := [4]string{in.UserID, fmt.Sprint(in.Time), in.Action, in.PageID}
		if event.Check(&in) != event.OK || seen[k] {
			continue
		}
		seen[k] = true
		d := dayOf(in.Time, w.loc)
		a := get(date(d)[:7], in.UserID)
		a.EngagedMs += in.DurationMs
		a.Events++
		a.days[d] = true
		if activeDays[d] == nil {
			activeDays[d] = map[int32]bool{}
		}
		activeDays[d][number(in.UserID)] = true
	}
	for _, s := range ref.Sessions {
		get(s.Date[:7], s.UserID).Sessions++
	}
	p, err := ParsePct(pct)
	if err != nil {
		t.Fatal(err)
	}
	for month, users := range months {
		var list []User
		var sessions []int64
		for _, a := range users {
			a.ActiveDays = int64(len(a.days))
			list = append(list, a.User)
			sessions = append(sessions, a.Sessions)
		}
		top := PowerUsers(list, p)
		wantTop, wantShares, active, wantShare := ref.PowerUsers(month, pct)
		if top.ActiveUsers != active || len(top.Users) != len(wantTop) {
			t.Fatalf("%s %s: %d active, top %d; reference %d, %d", name, month, top.ActiveUsers, len(top.Users), active, len(wantTop))
		}
		for i, u := range top.Users {
			wu := wantTop[i]
			if u.Rank != int64(i+1) || u.UserID != wu.UserID || u.EngagedMs != wu.EngagedMs || u.Events != wu.Events ||
				u.Sessions != wu.Sessions || u.ActiveDays != wu.ActiveDays || !sameShare(u.Share, wantShares[i]) {
				t.Fatalf("%s %s rank %d: got %+v share %v, want %+v share %v", name, month, i+1, u.User, u.Share, wu, wantShares[i])
			}
		}
		if !sameShare(top.EngagedShare, wantShare) {
			t.Fatalf("%s %s: top share %v, want %v", name, month, top.EngagedShare, wantShare)
		}
		_, wantFreq, _ := ref.Frequency(month)
		for i, row := range Frequency(sessions) {
			want := nan()
			if active > 0 {
				want = float64(wantFreq[i]) / float64(active)
			}
			if row.Bucket != Buckets[i].Label || row.Users != wantFreq[i] || !sameShare(row.Share, want) {
				t.Fatalf("%s %s bucket %s: %+v, want %d users", name, month, Buckets[i].Label, row, wantFreq[i])
			}
		}
	}

	// Cohorts: number the users with metadata too; the active days span the data plus margins.
	var join []int32
	for _, u := range w.users {
		number(u.UserID)
	}
	join = make([]int32, len(ids))
	for i := range join {
		join[i] = NoDay
	}
	for _, u := range w.users { // the last row of a user wins
		t0, _ := time.Parse(time.DateOnly, u.JoinDate)
		join[ids[u.UserID]] = int32(t0.Unix() / 86400)
	}
	var lo, hi int32 = math.MaxInt32, math.MinInt32
	for d := range activeDays {
		lo, hi = min(lo, d), max(hi, d)
	}
	var active [][]int32
	if len(activeDays) > 0 {
		lo -= 3 // empty days around the data are not the lake's days
		hi += 2
		for d := lo; d <= hi; d++ {
			list := make([]int32, 0, len(activeDays[d]))
			for u := range activeDays[d] {
				list = append(list, u)
			}
			slices.Sort(list)
			active = append(active, list)
		}
	}
	rows, err := Cohorts(lo, active, join)
	if err != nil {
		t.Fatal(err)
	}
	want := ref.Cohorts()
	if len(rows) != len(want) {
		t.Fatalf("%s: %d cohort rows, reference %d", name, len(rows), len(want))
	}
	for i, r := range rows {
		c := want[i]
		got := reference.CohortCell{Week: date(r.CohortWeek), Basis: r.Basis, Offset: int(r.WeekOffset), Size: int(r.CohortSize), Retained: int(r.Retained), Complete: r.Complete}
		if got != c || r.Retention != float64(c.Retained)/float64(c.Size) {
			t.Fatalf("%s: cohort row %d: got %+v (%v), want %+v", name, i, got, r.Retention, c)
		}
	}
}

func nan() float64 { return math.NaN() }

// sameShare compares a nullable share with the reference's, where NaN stands for null.
func sameShare(got *float64, want float64) bool {
	if got == nil {
		return math.IsNaN(want)
	}
	return *got == want
}

func TestCohortsEdgeCases(t *testing.T) {
	// 2024-01-01 is a Monday (day 19723). Data from Wednesday 2024-01-03 to Tuesday 2024-01-16.
	mon := int32(19723)
	first := mon + 2
	active := make([][]int32, 14)
	active[0] = []int32{0, 1}                         // Wed of week 0
	active[6] = []int32{1}                            // Tue of week 1
	active[13] = []int32{0}                           // Tue of week 2, the last day
	join := []int32{mon - 7, mon + 3, mon + 8, NoDay} // before the data, inside, inside (never active), none
	rows, err := Cohorts(first, active, join)
	if err != nil {
		t.Fatal(err)
	}
	type cell struct {
		week         int32
		basis        string
		k, size, ret int64
		complete     bool
	}
	var got []cell
	for _, r := range rows {
		got = append(got, cell{r.CohortWeek - mon, r.Basis, r.WeekOffset, r.CohortSize, r.Retained, r.Complete})
	}
	want := []cell{
		{0, FirstSeen, 0, 2, 2, false}, // week 0 starts before the data
		{0, FirstSeen, 1, 2, 1, true},
		{0, FirstSeen, 2, 2, 1, false}, // cut by the data's end
		{0, JoinDate, 0, 1, 1, false},  // user 1; user 0 joined the week before the data
		{0, JoinDate, 1, 1, 1, true},
		{0, JoinDate, 2, 1, 0, false},
		{7, JoinDate, 0, 1, 0, true}, // user 2, never active, still counted in the size
		{7, JoinDate, 1, 1, 0, false},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("cohorts:\n got %v\nwant %v", got, want)
	}
	if _, err := Cohorts(first, [][]int32{{5}}, join); err == nil {
		t.Fatal("an unnumbered user must be an error")
	}
	if rows, _ := Cohorts(first, [][]int32{nil, nil}, join); rows != nil {
		t.Fatalf("no activity gives no rows, got %v", rows)
	}
	if err := (&Activity{}).SetWeek(mon+1, nil, NoDay, NoDay); err == nil {
		t.Fatal("a week that does not start on a Monday must be an error")
	}
}

func TestFrequencyBuckets(t *testing.T) {
	rows := Frequency([]int64{1, 2, 3, 5, 6, 10, 11, 20, 21, 1000})
	want := []int64{1, 1, 2, 2, 2, 2}
	for i, r := range rows {
		if r.Users != want[i] || *r.Share != float64(want[i])/10 {
			t.Fatalf("bucket %s: %+v, want %d", r.Bucket, r, want[i])
		}
	}
	for _, r := range Frequency(nil) {
		if r.Users != 0 || r.Share != nil {
			t.Fatalf("no users: %+v, want 0 and a null share", r)
		}
	}
}

// TestSelectTop compares the heap selection with a full sort, ties included.
func TestSelectTop(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		n := rng.IntN(300)
		users := make([]User, n)
		for i := range users {
			users[i] = User{UserID: fmt.Sprint(rng.IntN(1000)), EngagedMs: rng.Int64N(20)}
		}
		want := slices.Clone(users)
		slices.SortFunc(want, func(a, b User) int { return Compare(&a, &b) })
		k := rng.IntN(n + 1)
		selectTop(users, k)
		if !slices.Equal(users[:k], want[:k]) {
			t.Fatalf("n %d, k %d: top %v, want %v", n, k, users[:k], want[:k])
		}
	}
}

// TestChangedCohorts keeps an Activity up to date through random changes (weeks of activity
// replaced, before, inside and after the data, emptied; join dates moved; new users) and checks
// after each that it equals an Activity built from scratch, and that every cohort week that
// ChangedCohorts leaves out has the same rows as before the change.
func TestChangedCohorts(t *testing.T) {
	mon := int32(19723) // 2024-01-01, a Monday
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		nUsers := 1 + rng.IntN(12)
		days := map[int32][]int32{} // day → active users, the truth
		var join []int32
		randomJoin := func() int32 {
			if rng.IntN(4) == 0 {
				return NoDay
			}
			return mon - 20 + rng.Int32N(120)
		}
		a := &Activity{}
		for range nUsers {
			join = append(join, randomJoin())
			a.AddUser(join[len(join)-1])
		}
		for step := range 8 {
			old := a.Clone()
			for range 1 + rng.IntN(3) {
				switch rng.IntN(3) {
				case 0: // a week's activity replaced
					week := mon + 7*rng.Int32N(12) - 14
					active := make([][]int32, 7)
					for i := range active {
						for u := range len(join) {
							if rng.IntN(6) == 0 {
								active[i] = append(active[i], int32(u))
							}
						}
						days[week+int32(i)] = active[i]
					}
					if err := a.AddDays(week, active); err != nil {
						t.Fatal(err)
					}
				case 1: // a join date moves
					u := rng.IntN(len(join))
					join[u] = randomJoin()
					a.Join[u] = join[u]
				case 2: // a new user, with metadata only
					join = append(join, randomJoin())
					a.AddUser(join[len(join)-1])
				}
			}
			// From scratch: every day from the earliest to the latest the truth holds.
			lo, hi := int32(math.MaxInt32), int32(math.MinInt32)
			for d := range days {
				lo, hi = min(lo, d), max(hi, d)
			}
			var active [][]int32
			for d := lo; d <= hi && len(days) > 0; d++ {
				active = append(active, days[d])
			}
			want, err := Cohorts(lo, active, join)
			if err != nil {
				t.Fatal(err)
			}
			got := a.Cohorts(a.CohortWeeks())
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: kept up to date\n%v\nfrom scratch\n%v", seed, step, got, want)
			}
			changed := ChangedCohorts(old, a)
			byWeek := func(rows []CohortRow) map[int32][]CohortRow {
				m := map[int32][]CohortRow{}
				for _, r := range rows {
					m[r.CohortWeek] = append(m[r.CohortWeek], r)
				}
				return m
			}
			before, after := byWeek(old.Cohorts(old.CohortWeeks())), byWeek(got)
			for _, w := range append(old.CohortWeeks(), a.CohortWeeks()...) {
				if !slices.Contains(changed, w) && !slices.Equal(before[w], after[w]) {
					t.Fatalf("seed %d step %d: week %d changed but ChangedCohorts = %v\nbefore %v\nafter  %v", seed, step, w-mon, changed, before[w], after[w])
				}
			}
			// The rows of some weeks are those weeks' rows of all.
			if len(changed) > 0 {
				part := a.Cohorts(changed[:1])
				if !slices.Equal(part, after[changed[0]]) {
					t.Fatalf("seed %d step %d: rows of week %d alone: %v, want %v", seed, step, changed[0]-mon, part, after[changed[0]])
				}
			}
		}
	}
}
