package engagement

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
)

// Cohort bases.
const (
	FirstSeen = "first_seen"
	JoinDate  = "join_date"
)

// NoDay marks a user without a join date, and a week without a valid event.
const NoDay = int32(-1 << 31)

// WeekOf is the Monday of day d's week.
func WeekOf(d int32) int32 {
	return d - (d%7+7+3)%7 // day 0, 1970-01-01, was a Thursday
}

// CohortRow is one cell of gold/cohort_retention.
type CohortRow struct {
	CohortWeek int32 // the Monday's day number
	Basis      string
	WeekOffset int64
	CohortSize int64
	Retained   int64
	Retention  float64
	Complete   bool
}

// Activity is everything weekly cohort retention depends on: each user's join day, the weeks each
// user was active in, and each week's first and last day with a valid event (the lake's days are the
// first to the last of those). Users are numbered 0 … len(Join)-1; week i is the week of Monday
// Origin + 7i. Keeping it lets a caller recompute only the cohorts that a change touches.
type Activity struct {
	Origin int32      // the Monday of week 0
	Days   [][2]int32 // week → its first and last day with a valid event; NoDay twice when none
	Join   []int32    // user → join day, NoDay without one
	Weeks  [][]uint64 // user → bit i set when active in week i
}

// AddUser numbers a new user.
func (a *Activity) AddUser(join int32) int32 {
	a.Join = append(a.Join, join)
	a.Weeks = append(a.Weeks, nil)
	return int32(len(a.Join) - 1)
}

// Clone returns a copy that shares nothing with a.
func (a *Activity) Clone() *Activity {
	b := &Activity{Origin: a.Origin, Days: slices.Clone(a.Days), Join: slices.Clone(a.Join), Weeks: make([][]uint64, len(a.Weeks))}
	for u, w := range a.Weeks {
		b.Weeks[u] = slices.Clone(w)
	}
	return b
}

// SetWeek replaces the activity of the week of Monday week: users (each once) are its active users,
// and first and last its first and last day with a valid event (ignored when users is empty).
func (a *Activity) SetWeek(week int32, users []int32, first, last int32) error {
	if WeekOf(week) != week {
		return fmt.Errorf("engagement: week %d does not start on a Monday", week)
	}
	if len(a.Days) == 0 {
		a.Origin = week
	}
	if week < a.Origin { // weeks before the origin: shift every user's bits up
		n := int((a.Origin - week) / 7)
		a.Days = append(make([][2]int32, n), a.Days...)
		for i := range n {
			a.Days[i] = [2]int32{NoDay, NoDay}
		}
		for u, w := range a.Weeks {
			a.Weeks[u] = shiftUp(w, n)
		}
		a.Origin = week
	}
	i := int((week - a.Origin) / 7)
	for len(a.Days) <= i {
		a.Days = append(a.Days, [2]int32{NoDay, NoDay})
	}
	word, bit := i/64, uint64(1)<<(i%64)
	for _, w := range a.Weeks {
		if word < len(w) {
			w[word] &^= bit
		}
	}
	a.Days[i] = [2]int32{NoDay, NoDay}
	if len(users) == 0 {
		return nil
	}
	a.Days[i] = [2]int32{first, last}
	for _, u := range users {
		if u < 0 || int(u) >= len(a.Weeks) {
			return fmt.Errorf("engagement: user %d of week %d is not numbered", u, week)
		}
		for len(a.Weeks[u]) <= word {
			a.Weeks[u] = append(a.Weeks[u], 0)
		}
		a.Weeks[u][word] |= bit
	}
	return nil
}

// shiftUp returns w with every bit n places higher.
func shiftUp(w []uint64, n int) []uint64 {
	var out []uint64
	for i, x := range w {
		for x != 0 {
			b := i*64 + bits.TrailingZeros64(x) + n
			x &= x - 1
			for len(out) <= b/64 {
				out = append(out, 0)
			}
			out[b/64] |= 1 << (b % 64)
		}
	}
	return out
}

// LakeDays returns the first and last day with a valid event; ok is false when there is none.
func (a *Activity) LakeDays() (first, last int32, ok bool) {
	lo, hi := 0, len(a.Days)-1
	for lo <= hi && a.Days[lo][0] == NoDay {
		lo++
	}
	for hi >= lo && a.Days[hi][0] == NoDay {
		hi--
	}
	if lo > hi {
		return 0, 0, false
	}
	return a.Days[lo][0], a.Days[hi][1], true
}

// cohorts returns user u's cohort week of each basis (FirstSeen, JoinDate) given the lake's weeks,
// NoDay when the user has none.
func (a *Activity) cohorts(u int, firstWeek, lastWeek int32) [2]int32 {
	c := [2]int32{NoDay, NoDay}
	for i, x := range a.Weeks[u] {
		if x != 0 {
			c[0] = a.Origin + 7*int32(i*64+bits.TrailingZeros64(x))
			break
		}
	}
	if d := a.Join[u]; d != NoDay {
		if w := WeekOf(d); w >= firstWeek && w <= lastWeek {
			c[1] = w
		}
	}
	return c
}

// CohortWeeks returns every cohort week of the lake (Mondays, ascending): the weeks that overlap its days.
func (a *Activity) CohortWeeks() []int32 {
	first, last, ok := a.LakeDays()
	if !ok {
		return nil
	}
	var weeks []int32
	for w := WeekOf(first); w <= last; w += 7 {
		weeks = append(weeks, w)
	}
	return weeks
}

// Cohorts computes the rows of the given cohort weeks (Mondays) of both bases, ordered by cohort
// week, basis and week offset. A week without users, or outside the lake's days, has no rows. It
// costs one pass over the users plus one over the active weeks of the users in those cohorts.
func (a *Activity) Cohorts(weeks []int32) []CohortRow {
	firstDay, lastDay, ok := a.LakeDays()
	if !ok {
		return nil
	}
	firstWeek, lastWeek := WeekOf(firstDay), WeekOf(lastDay)
	weeks = slices.Clone(weeks)
	slices.Sort(weeks)
	weeks = slices.Compact(weeks)
	weeks = slices.DeleteFunc(weeks, func(w int32) bool { return w < firstWeek || w > lastWeek || WeekOf(w) != w })
	index := map[int32]int{}
	for j, w := range weeks {
		index[w] = j
	}
	offsets := func(j int) int { return int((lastWeek-weeks[j])/7) + 1 }
	var size [2][]int64
	var retained [2][][]int64 // [basis][cohort][offset]
	for b := range size {
		size[b] = make([]int64, len(weeks))
		retained[b] = make([][]int64, len(weeks))
		for j := range weeks {
			retained[b][j] = make([]int64, offsets(j))
		}
	}
	for u := range a.Join {
		for b, c := range a.cohorts(u, firstWeek, lastWeek) {
			j, ok := index[c]
			if c == NoDay || !ok {
				continue
			}
			size[b][j]++
			for i, x := range a.Weeks[u] {
				for x != 0 {
					w := a.Origin + 7*int32(i*64+bits.TrailingZeros64(x))
					x &= x - 1
					if w >= c { // a join cohort counts activity from its own week on
						retained[b][j][(w-c)/7]++
					}
				}
			}
		}
	}
	var rows []CohortRow
	for j, week := range weeks {
		for b, basis := range [2]string{FirstSeen, JoinDate} {
			if size[b][j] == 0 {
				continue
			}
			for k, r := range retained[b][j] {
				start := week + int32(k)*7
				rows = append(rows, CohortRow{
					CohortWeek: week, Basis: basis, WeekOffset: int64(k), CohortSize: size[b][j], Retained: r,
					Retention: float64(r) / float64(size[b][j]),
					Complete:  start >= firstDay && start+6 <= lastDay,
				})
			}
		}
	}
	return rows
}

// ChangedCohorts returns the cohort weeks (Mondays, ascending) whose rows can differ between old and
// next, where next numbers old's users the same (and may add more). A new first or last lake day
// changes every cohort (each has a cell per week up to the last, and completeness depends on both
// ends); otherwise a cohort changes only through its members: one who joins or leaves it, or whose
// activity changes in a week it counts.
func ChangedCohorts(old, next *Activity) []int32 {
	of, ol, ook := old.LakeDays()
	nf, nl, nok := next.LakeDays()
	if ook != nok || of != nf || ol != nl {
		weeks := append(old.CohortWeeks(), next.CohortWeeks()...)
		slices.Sort(weeks)
		return slices.Compact(weeks)
	}
	if !nok {
		return nil
	}
	firstWeek, lastWeek := WeekOf(nf), WeekOf(nl)
	changed := map[int32]bool{}
	for u := range next.Join {
		nc := next.cohorts(u, firstWeek, lastWeek)
		oc := [2]int32{NoDay, NoDay}
		var ow []uint64
		if u < len(old.Join) {
			oc, ow = old.cohorts(u, firstWeek, lastWeek), old.Weeks[u]
		}
		latest := latestDifference(old.Origin, ow, next.Origin, next.Weeks[u])
		for b := range nc {
			switch {
			case oc[b] != nc[b]:
				changed[oc[b]], changed[nc[b]] = true, true
			case nc[b] != NoDay && latest != NoDay && latest >= nc[b]:
				changed[nc[b]] = true
			}
		}
	}
	delete(changed, NoDay)
	return slices.Sorted(maps.Keys(changed))
}

// latestDifference is the latest week (Monday) active in exactly one of two week sets, each given
// as bits from its origin, NoDay when they hold the same weeks.
func latestDifference(oOrigin int32, o []uint64, nOrigin int32, n []uint64) int32 {
	switch { // align both on the earlier origin
	case oOrigin > nOrigin:
		o, oOrigin = shiftUp(o, int((oOrigin-nOrigin)/7)), nOrigin
	case nOrigin > oOrigin:
		n = shiftUp(n, int((nOrigin-oOrigin)/7))
	}
	for i := max(len(o), len(n)) - 1; i >= 0; i-- {
		var x uint64
		if i < len(o) {
			x = o[i]
		}
		if i < len(n) {
			x ^= n[i]
		}
		if x != 0 {
			return oOrigin + 7*int32(i*64+63-bits.LeadingZeros64(x))
		}
	}
	return NoDay
}

// Cohorts computes weekly retention of both bases from days of activity. Users are numbered 0 …
// len(join)-1; active[i] lists the users active on day first+i (each once); join[u] is user u's join
// day or NoDay. The lake's days are the first to the last day of active with a user. Rows come
// ordered by cohort week, basis, week offset.
func Cohorts(first int32, active [][]int32, join []int32) ([]CohortRow, error) {
	a := &Activity{}
	for _, d := range join {
		a.AddUser(d)
	}
	if err := a.AddDays(first, active); err != nil {
		return nil, err
	}
	return a.Cohorts(a.CohortWeeks()), nil
}

// AddDays sets the weeks of days first … first+len(active)-1 from their active users (active[i] on
// day first+i, each once), replacing what a held for them. The days of a week must all be given
// (those outside the data as empty), except where the week is cut by the start or end of active.
func (a *Activity) AddDays(first int32, active [][]int32) error {
	seen := make([]int32, len(a.Join)) // the week+1 a user was last listed in
	var users []int32
	for i := 0; i < len(active); {
		week := WeekOf(first + int32(i))
		users = users[:0]
		lo, hi := NoDay, NoDay
		for ; i < len(active) && WeekOf(first+int32(i)) == week; i++ {
			if len(active[i]) > 0 {
				if lo == NoDay {
					lo = first + int32(i)
				}
				hi = first + int32(i)
			}
			for _, u := range active[i] {
				if u < 0 || int(u) >= len(seen) {
					return fmt.Errorf("engagement: user %d of day %d is not numbered", u, first+int32(i))
				}
				if seen[u] != week+1 {
					seen[u] = week + 1
					users = append(users, u)
				}
			}
		}
		if err := a.SetWeek(week, users, lo, hi); err != nil {
			return err
		}
	}
	return nil
}
