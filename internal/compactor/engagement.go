package compactor

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/tables"
)

// userDay is one user's activity on one day, beside activity.users.
type userDay struct {
	engagedMs int64
	events    int64
	sessions  int64 // started that day
}

// countSessions adds each user's sessions to perUser, given the day's sessions' users in order (n of
// them, user(i) sorted like a.users).
func (a *activity) countSessions(n int, user func(int) string) error {
	j := 0
	for i := range n {
		u := user(i)
		for j < len(a.users) && a.users[j] < u {
			j++
		}
		if j == len(a.users) || a.users[j] != u {
			return fmt.Errorf("session of %q, who has no event that day", u)
		}
		a.perUser[j].sessions++
	}
	return nil
}

// engagementInput is the loaded activity writeGold shares with the engagement tables.
type engagementInput struct {
	lo     int32       // day of days[0]
	days   []*activity // lo … lo+len-1
	active [][]int32   // days' users as ids
	ids    map[string]int32
	names  []string // id → user_id
}

// monthlyEngagement builds gold/power_users and gold/session_frequency of rb.Months, whose days are
// all in rb.Load and so loaded in full.
func (c *Compactor) monthlyEngagement(rb Rebuild, in *engagementInput) ([]object, error) {
	var objs []object
	agg := make([]engagement.User, len(in.names))
	var touched []int32
	for _, m := range rb.Months {
		first, last, _ := event.ParseMonth(m)
		touched = touched[:0]
		for d := max(first, in.lo); d <= min(last, in.lo+int32(len(in.days))-1); d++ {
			a := in.days[d-in.lo]
			if len(a.perUser) != len(a.users) { // read for its users only; a day without users is complete
				return nil, fmt.Errorf("month %s: day %s was not loaded in full", m, event.Date(d))
			}
			for j, id := range in.active[d-in.lo] {
				u := &agg[id]
				if u.ActiveDays == 0 {
					touched = append(touched, id)
					u.UserID = in.names[id]
				}
				p := a.perUser[j]
				u.EngagedMs += p.engagedMs
				u.Events += p.events
				u.Sessions += p.sessions
				u.ActiveDays++
			}
		}
		users := make([]engagement.User, len(touched))
		sessions := make([]int64, len(touched))
		for i, id := range touched {
			users[i], sessions[i] = agg[id], agg[id].Sessions
			agg[id] = engagement.User{}
		}
		top := engagement.PowerUsers(users, c.cfg.PowerUsersPct)
		rows := make([]tables.PowerUser, len(top.Users))
		for i, u := range top.Users {
			rows[i] = tables.PowerUser{Rank: u.Rank, UserID: u.UserID, EngagedMs: u.EngagedMs, Events: u.Events,
				Sessions: u.Sessions, ActiveDays: u.ActiveDays, ShareOfEngagedMs: u.Share}
		}
		freq := engagement.Frequency(sessions)
		freqRows := make([]tables.SessionFrequency, len(freq))
		for i, f := range freq {
			freqRows[i] = tables.SessionFrequency{Bucket: f.Bucket, Users: f.Users, Share: f.Share}
		}
		objs = append(objs,
			object{monthKey(tables.GoldPowerUsers, m), func(w io.Writer) error { return writeParquet(w, rows) }},
			object{monthKey(tables.GoldSessionFrequency, m), func(w io.Writer) error { return writeParquet(w, freqRows) }})
	}
	return objs, nil
}

// cohortRetention builds every partition of gold/cohort_retention from the active users of every day
// of the lake and the users' join dates.
func (c *Compactor) cohortRetention(in *engagementInput, users map[string]userInfo) ([]object, error) {
	for id := range users { // users never active still count in their join_date cohort
		if _, ok := in.ids[id]; !ok {
			in.ids[id] = int32(len(in.names))
			in.names = append(in.names, id)
		}
	}
	join := make([]int32, len(in.names))
	for i, id := range in.names {
		u, ok := users[id]
		if !ok {
			u = unknownUser
		}
		join[i] = u.joinDate
	}
	cells, err := engagement.Cohorts(in.lo, in.active, join)
	if err != nil {
		return nil, fmt.Errorf("cohort retention: %w", err)
	}
	var objs []object
	for len(cells) > 0 {
		week := cells[0].CohortWeek
		n := 0
		for n < len(cells) && cells[n].CohortWeek == week {
			n++
		}
		rows := make([]tables.CohortRetention, n)
		for i, r := range cells[:n] {
			rows[i] = tables.CohortRetention{Basis: r.Basis, WeekOffset: r.WeekOffset, CohortSize: r.CohortSize,
				RetainedUsers: r.Retained, Retention: r.Retention, Complete: r.Complete}
		}
		objs = append(objs, object{tables.GoldCohortRetention + "/cohort_week=" + event.Date(week) + "/" + partFile,
			func(w io.Writer) error { return writeParquet(w, rows) }})
		cells = cells[n:]
	}
	return objs, nil
}

// removeStale deletes the partitions of table that written does not hold, after the new ones are in
// place: a cohort week can lose all its users when metadata changes.
func (c *Compactor) removeStale(ctx context.Context, table string, written []object) error {
	keep := map[string]bool{}
	for _, o := range written {
		keep[o.key] = true
	}
	keys, err := c.store.List(ctx, table+"/")
	if err != nil {
		return err
	}
	for _, key := range keys {
		if !keep[key] && strings.HasSuffix(key, ".parquet") {
			if err := c.store.Delete(ctx, key); err != nil {
				return err
			}
		}
	}
	return nil
}

// monthKey is the object key of a monthly table's partition.
func monthKey(table, m string) string { return table + "/month=" + m + "/" + partFile }
