package reference

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MonthUser is a user's activity in a calendar month (section 8).
type MonthUser struct {
	UserID                                  string
	EngagedMs, Events, Sessions, ActiveDays int64
}

// MonthUsers lists the users active in month (YYYY-MM), in no particular order.
func (r *Result) MonthUsers(month string) []MonthUser {
	var out []MonthUser
	for id, evs := range r.valid {
		u := MonthUser{UserID: id}
		days := map[string]bool{}
		for _, ev := range evs {
			date := r.date(ev.Time)
			if date[:7] != month {
				continue
			}
			u.EngagedMs += ev.DurationMs
			u.Events++
			days[date] = true
		}
		if u.Events == 0 {
			continue
		}
		u.ActiveDays = int64(len(days))
		for _, s := range r.Sessions {
			if s.UserID == id && s.Date[:7] == month {
				u.Sessions++
			}
		}
		out = append(out, u)
	}
	return out
}

// PowerUsers ranks month's active users by engaged_ms descending, then user_id, and returns the top
// pct percent (a decimal string), how many users were active, and each listed user's share and the
// top's combined share of the month's engaged_ms (NaN for a zero denominator, standing for null).
func (r *Result) PowerUsers(month, pct string) (top []MonthUser, shares []float64, active int, topShare float64) {
	users := r.MonthUsers(month)
	sort.Slice(users, func(i, j int) bool {
		if users[i].EngagedMs != users[j].EngagedMs {
			return users[i].EngagedMs > users[j].EngagedMs
		}
		return users[i].UserID < users[j].UserID
	})
	k := topCount(pct, len(users))
	var total, sum int64
	for _, u := range users {
		total += u.EngagedMs
	}
	div := func(a int64) float64 {
		if total == 0 {
			return nan()
		}
		return float64(a) / float64(total)
	}
	for _, u := range users[:k] {
		top = append(top, u)
		shares = append(shares, div(u.EngagedMs))
		sum += u.EngagedMs
	}
	return top, shares, len(users), div(sum)
}

func nan() float64 { var z float64; return z / z }

// topCount is ⌈X·n/100⌉ for the decimal X, in integers: X = digits / 10^scale.
func topCount(pct string, n int) int {
	whole, frac, _ := strings.Cut(pct, ".")
	digits, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("reference: percentage %q: %v", pct, err))
	}
	den := int64(100)
	for range len(frac) {
		den *= 10
	}
	num := digits * int64(n)
	return int((num + den - 1) / den)
}

// Frequency counts month's active users by sessions started in the month, in the buckets 1, 2, 3-5,
// 6-10, 11-20, 21+.
func (r *Result) Frequency(month string) (labels []string, users []int64, active int) {
	labels = []string{"1", "2", "3-5", "6-10", "11-20", "21+"}
	users = make([]int64, 6)
	for _, u := range r.MonthUsers(month) {
		active++
		switch n := u.Sessions; {
		case n <= 1:
			users[0]++
		case n == 2:
			users[1]++
		case n <= 5:
			users[2]++
		case n <= 10:
			users[3]++
		case n <= 20:
			users[4]++
		default:
			users[5]++
		}
	}
	return labels, users, active
}

// CohortCell is one row of cohort retention.
type CohortCell struct {
	Week           string // the cohort's Monday
	Basis          string
	Offset         int
	Size, Retained int
	Complete       bool
}

// Cohorts computes weekly cohort retention of both bases, ordered by week, basis, offset.
func (r *Result) Cohorts() []CohortCell {
	first, last := "", ""
	for date, users := range r.active {
		if len(users) == 0 {
			continue
		}
		if first == "" || date < first {
			first = date
		}
		if last == "" || date > last {
			last = date
		}
	}
	if first == "" {
		return nil
	}
	lastWeek := monday(last)
	members := map[string]map[string][]string{"first_seen": {}, "join_date": {}} // basis → week → users
	for id, evs := range r.valid {
		w := monday(r.date(evs[0].Time)) // evs are in time order
		members["first_seen"][w] = append(members["first_seen"][w], id)
	}
	for id, u := range r.Users {
		if _, err := time.Parse(time.DateOnly, u.JoinDate); err != nil {
			continue
		}
		w := monday(u.JoinDate)
		if w > last || addDays(w, 6) < first {
			continue // the week does not overlap the lake's days
		}
		members["join_date"][w] = append(members["join_date"][w], id)
	}
	activeIn := func(id, from string) bool {
		to := addDays(from, 6)
		for _, ev := range r.valid[id] {
			if d := r.date(ev.Time); d >= from && d <= to {
				return true
			}
		}
		return false
	}
	var cells []CohortCell
	for _, basis := range []string{"first_seen", "join_date"} {
		for w, ids := range members[basis] {
			k := 0
			for start := w; start <= lastWeek; start = addDays(start, 7) {
				c := CohortCell{Week: w, Basis: basis, Offset: k, Size: len(ids),
					Complete: start >= first && addDays(start, 6) <= last}
				for _, id := range ids {
					if activeIn(id, start) {
						c.Retained++
					}
				}
				cells = append(cells, c)
				k++
			}
		}
	}
	sort.Slice(cells, func(i, j int) bool {
		a, b := cells[i], cells[j]
		if a.Week != b.Week {
			return a.Week < b.Week
		}
		if a.Basis != b.Basis {
			return a.Basis < b.Basis
		}
		return a.Offset < b.Offset
	})
	return cells
}

// monday is the Monday on or before date.
func monday(date string) string {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		panic(err)
	}
	for t.Weekday() != time.Monday {
		t = t.AddDate(0, 0, -1)
	}
	return t.Format(time.DateOnly)
}
