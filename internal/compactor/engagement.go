package compactor

import (
	"context"
	"fmt"
	"io"
	"slices"
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
// them, user(i) in the order of a.users).
func (a *activity) countSessions(n int, user func(int) string) error {
	sc := sessionCounter{a: a}
	for i := range n {
		if err := sc.add(user(i)); err != nil {
			return err
		}
	}
	return nil
}

// sessionCounter adds sessions one by one to activity.perUser, given in the order of its users, each
// user's together (silver's order: users sorted within each bucket of a day, buckets in turn).
type sessionCounter struct {
	a *activity
	j int
}

func (s *sessionCounter) add(user string) error {
	for s.j < len(s.a.users) && s.a.users[s.j] != user {
		s.j++
	}
	if s.j == len(s.a.users) {
		return fmt.Errorf("session of %q, who has no event that day (or out of the events' order)", user)
	}
	s.a.perUser[s.j].sessions++
	return nil
}

// engagementInput is the loaded activity writeGold shares with the engagement tables.
type engagementInput struct {
	lo     int32       // day of days[0]
	days   []*activity // lo … lo+len-1
	active [][]int32   // days' users as ids
	names  []string    // id → user_id
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

// cohortWrite is the cohort retention work of a rebuild: the partitions to write, those to delete
// (cohort weeks left without users), and the index to record once both are done.
type cohortWrite struct {
	objects []object
	deleted []string
	index   *cohortIndex
}

// cohortRetention brings the cohort index up to date with the rebuilt weeks and the users' join days,
// and builds the gold/cohort_retention partitions that change: those ChangedCohorts names, given the
// lake's index, or every one for CohortsAll (index nil), whose in holds every lake day.
func (c *Compactor) cohortRetention(rb Rebuild, index *cohortIndex, in *engagementInput, users map[string]userInfo) (cohortWrite, error) {
	next := newCohortIndex()
	weeks := rb.Weeks
	if rb.Cohorts == CohortsAll {
		weeks = nil
		for w := engagement.WeekOf(rb.LakeDays[0]); w <= rb.LakeDays[1]; w += 7 {
			weeks = append(weeks, w)
		}
	} else {
		next = index.clone()
	}
	inLo, inHi := in.lo, in.lo+int32(len(in.days))-1
	toIndex := make([]int32, len(in.names)) // in's user numbers → the index's
	for i, name := range in.names {
		toIndex[i] = next.id(name)
	}
	listed := make([]bool, len(next.names))
	var ids []int32
	for _, w := range weeks {
		for _, id := range ids {
			listed[id] = false
		}
		ids = ids[:0]
		first, last := engagement.NoDay, engagement.NoDay
		for d := max(w, rb.LakeDays[0]); d <= min(w+6, rb.LakeDays[1]); d++ {
			if d < inLo || d > inHi {
				return cohortWrite{}, fmt.Errorf("week %s: day %s was not loaded", event.Date(w), event.Date(d))
			}
			active := in.active[d-in.lo]
			if len(active) > 0 {
				if first == engagement.NoDay {
					first = d
				}
				last = d
			}
			for _, u := range active {
				if id := toIndex[u]; !listed[id] {
					listed[id] = true
					ids = append(ids, id)
				}
			}
		}
		if err := next.act.SetWeek(w, ids, first, last); err != nil {
			return cohortWrite{}, err
		}
	}
	var joined []string // users with metadata the index has not met
	for id := range users {
		if _, ok := next.ids[id]; !ok {
			joined = append(joined, id)
		}
	}
	slices.Sort(joined)
	for _, id := range joined {
		next.id(id)
	}
	for i, name := range next.names {
		u, ok := users[name]
		if !ok {
			u = unknownUser
		}
		next.act.Join[i] = u.joinDate
	}

	changed := next.act.CohortWeeks()
	if index != nil {
		changed = engagement.ChangedCohorts(&index.act, &next.act)
	}
	cells := next.act.Cohorts(changed)
	out := cohortWrite{index: next}
	for _, week := range changed {
		n := 0
		for n < len(cells) && cells[n].CohortWeek == week {
			n++
		}
		key := tables.GoldCohortRetention + "/cohort_week=" + event.Date(week) + "/" + partFile
		if n == 0 {
			out.deleted = append(out.deleted, key)
			continue
		}
		rows := make([]tables.CohortRetention, n)
		for i, r := range cells[:n] {
			rows[i] = tables.CohortRetention{Basis: r.Basis, WeekOffset: r.WeekOffset, CohortSize: r.CohortSize,
				RetainedUsers: r.Retained, Retention: r.Retention, Complete: r.Complete}
		}
		out.objects = append(out.objects, object{key, func(w io.Writer) error { return writeParquet(w, rows) }})
		cells = cells[n:]
	}
	return out, nil
}

// finishCohorts removes the cohort partitions left without users, once the new ones are in place
// (for CohortsAll: every partition it did not write, as a lake without an index may hold any), and
// then records the index. A crash before the index is written redoes the same work from the old one.
func (c *Compactor) finishCohorts(ctx context.Context, rb Rebuild, w cohortWrite, f *fence) error {
	if rb.Cohorts == CohortsAll {
		if err := c.removeStale(ctx, tables.GoldCohortRetention, w.objects, f); err != nil {
			return err
		}
	}
	for _, key := range w.deleted {
		if err := c.deleteFenced(ctx, f, key); err != nil {
			return err
		}
	}
	// The partitions are durable before the index that says they are done.
	if err := c.store.Sync(ctx); err != nil {
		return err
	}
	if err := c.putFenced(ctx, f, []object{{CohortIndexKey, w.index.encode}}); err != nil {
		return fmt.Errorf("write %s: %w", CohortIndexKey, err)
	}
	return nil
}

// removeStale deletes the partitions of table that written does not hold, after the new ones are in
// place.
func (c *Compactor) removeStale(ctx context.Context, table string, written []object, f *fence) error {
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
			if err := c.deleteFenced(ctx, f, key); err != nil {
				return err
			}
		}
	}
	return nil
}

// monthKey is the object key of a monthly table's partition.
func monthKey(table, m string) string { return table + "/month=" + m + "/" + partFile }
