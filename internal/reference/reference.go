// Package reference computes the contract's metrics from the CSV files the slow, obvious way, for tests.
//
// It shares nothing with the stream or the lake but the CSV reader, the per-event rules and the metric
// formulas: it keeps every event in memory, sorts each user's events and splits them by the definition.
// It knows nothing of Kafka, so it has no late events: compare with it on input that has none.
package reference

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/metric"
)

// Gap is the session gap: a gap this long or longer starts a new session.
const Gap = 30 * time.Minute

// Segment names one segment value, such as {"country", "US"}.
type Segment struct{ Dimension, Value string }

// Session is one session by the contract's definition.
type Session struct {
	UserID     string
	Start, End int64 // Unix ms
	Actions    int64
	EngagedMs  int64
	Date       string // day of Start
}

// Quality counts the rows of one day by what became of them.
type Quality struct {
	BronzeRows, ValidEvents, UnknownAction, DurationOutOfRange, Duplicate int64
}

// Day holds one day's metrics.
type Day struct {
	Date            string
	DAU, WAU, MAU   int
	Stickiness      float64
	Sessions        metric.Sessions
	P50, P95        float64
	SessionsPerUser float64
	Segments        map[Segment]*SegmentDay
	Quality         Quality
}

// SegmentDay holds one segment's metrics for a day.
type SegmentDay struct {
	DAU      int
	Sessions metric.Sessions
}

// Month holds one calendar month's metrics.
type Month struct {
	Month    string
	MAU      int
	Sessions metric.Sessions
}

// Result is everything computed from one pair of files.
type Result struct {
	Loc       *time.Location
	Read      int64                  // interaction rows read
	Rejected  map[event.Reason]int64 // unreadable interaction rows by reason
	Users     map[string]event.User  // latest metadata per user
	Sessions  []Session              // ordered by user, then start
	Days      map[string]*Day        // every date from the first to the last event's
	Months    map[string]*Month
	FirstDate string
	LastDate  string
	Performance

	active map[string]map[string]bool     // date -> active users
	valid  map[string][]event.Interaction // user -> valid events in time order
}

// ComputeFiles is Compute of the CSV files at two paths.
func ComputeFiles(interactions, users string, loc *time.Location) (*Result, error) {
	fi, err := os.Open(interactions)
	if err != nil {
		return nil, err
	}
	defer fi.Close()
	fu, err := os.Open(users)
	if err != nil {
		return nil, err
	}
	defer fu.Close()
	return Compute(fi, fu, loc)
}

// Compute reads both CSV files and computes every metric in loc.
func Compute(interactions, users io.Reader, loc *time.Location) (*Result, error) {
	var metas []event.User
	ur := csvin.NewUserReader(users)
	for {
		var u event.User
		reason, err := ur.Next(&u)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reference: read users: %w", err)
		}
		if reason == event.OK {
			metas = append(metas, u)
		}
	}
	var rows []event.Interaction
	rejected := map[event.Reason]int64{}
	var read int64
	ir := csvin.NewInteractionReader(interactions)
	for {
		var in event.Interaction
		reason, err := ir.Next(&in)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reference: read interactions: %w", err)
		}
		read++
		if reason != event.OK {
			rejected[reason]++
			continue
		}
		rows = append(rows, in)
	}
	r := ComputeRows(rows, metas, loc)
	r.Read = read
	r.Rejected = rejected
	return r, nil
}

// ComputeRows computes every metric from readable rows in input order and user metadata rows in
// input order (the last row of a user wins).
func ComputeRows(rows []event.Interaction, metas []event.User, loc *time.Location) *Result {
	r := &Result{
		Loc:      loc,
		Read:     int64(len(rows)),
		Rejected: map[event.Reason]int64{},
		Users:    map[string]event.User{},
		Days:     map[string]*Day{},
		Months:   map[string]*Month{},
		active:   map[string]map[string]bool{},
	}
	for _, u := range metas {
		r.Users[u.UserID] = u
	}

	type dupKey struct {
		user   string
		time   int64
		action string
		page   string
	}
	seen := map[dupKey]bool{}
	byUser := map[string][]event.Interaction{}
	for _, in := range rows {
		date := r.date(in.Time)
		d := r.day(date)
		d.Quality.BronzeRows++
		switch event.Check(&in) {
		case event.UnknownAction:
			d.Quality.UnknownAction++
			continue
		case event.DurationOutOfRange:
			d.Quality.DurationOutOfRange++
			continue
		}
		k := dupKey{in.UserID, in.Time, in.Action, in.PageID}
		if seen[k] {
			d.Quality.Duplicate++
			continue
		}
		seen[k] = true
		d.Quality.ValidEvents++
		byUser[in.UserID] = append(byUser[in.UserID], in)
		if r.active[date] == nil {
			r.active[date] = map[string]bool{}
		}
		r.active[date][in.UserID] = true
	}

	userIDs := make([]string, 0, len(byUser))
	for id := range byUser {
		userIDs = append(userIDs, id)
	}
	slices.Sort(userIDs)
	for _, id := range userIDs {
		evs := byUser[id]
		// Stable: equal timestamps keep input order.
		slices.SortStableFunc(evs, func(a, b event.Interaction) int { return compareInt(a.Time, b.Time) })
		var cur *Session
		for _, ev := range evs {
			date := r.date(ev.Time)
			if cur == nil || ev.Time-cur.End >= Gap.Milliseconds() || date != cur.Date {
				r.Sessions = append(r.Sessions, Session{UserID: id, Start: ev.Time, End: ev.Time, Date: date})
				cur = &r.Sessions[len(r.Sessions)-1]
			}
			cur.End = ev.Time
			cur.Actions++
			cur.EngagedMs += ev.DurationMs
		}
	}

	r.valid = byUser
	r.computeDays()
	r.computePerformance(byUser)
	return r
}

func (r *Result) computeDays() {
	if len(r.Days) == 0 {
		return
	}
	dates := make([]string, 0, len(r.Days))
	for d := range r.Days {
		dates = append(dates, d)
	}
	slices.Sort(dates)
	r.FirstDate, r.LastDate = dates[0], dates[len(dates)-1]
	for date := r.FirstDate; date <= r.LastDate; date = addDays(date, 1) {
		r.day(date)
	}

	durations := map[string][]float64{}
	for _, s := range r.Sessions {
		d := r.Days[s.Date]
		d.Sessions.Add(s.End-s.Start, s.Actions)
		durations[s.Date] = append(durations[s.Date], metric.DurationS(s.Start, s.End))
		u := r.user(s.UserID)
		for _, seg := range segmentsOf(u) {
			d.segment(seg).Sessions.Add(s.End-s.Start, s.Actions)
		}
		m := r.month(s.Date[:7])
		m.Sessions.Add(s.End-s.Start, s.Actions)
	}
	for date, d := range r.Days {
		d.DAU = len(r.active[date])
		d.WAU = r.Active(addDays(date, -6), date, Segment{})
		d.MAU = r.Active(addDays(date, -29), date, Segment{})
		d.Stickiness = metric.Ratio(int64(d.DAU), int64(d.MAU))
		d.P50 = metric.NearestRank(durations[date], 0.50)
		d.P95 = metric.NearestRank(durations[date], 0.95)
		d.SessionsPerUser = metric.Ratio(d.Sessions.Count, int64(d.DAU))
		for u := range r.active[date] {
			for _, seg := range segmentsOf(r.user(u)) {
				d.segment(seg).DAU++
			}
		}
	}
	for name, m := range r.Months {
		m.MAU = r.Active(name+"-01", addDays(addMonths(name+"-01", 1), -1), Segment{})
	}
}

// Active counts the distinct users active from date from to date to, inclusive, in segment seg (the
// zero Segment for everyone).
func (r *Result) Active(from, to string, seg Segment) int {
	users := map[string]bool{}
	for date := from; date <= to; date = addDays(date, 1) {
		for u := range r.active[date] {
			if seg != (Segment{}) && !slices.Contains(segmentsOf(r.user(u)), seg) {
				continue
			}
			users[u] = true
		}
	}
	return len(users)
}

func (r *Result) user(id string) event.User {
	if u, ok := r.Users[id]; ok {
		return u
	}
	return event.UnknownUser(id)
}

func segmentsOf(u event.User) []Segment {
	return []Segment{{event.Dimensions[0], u.Country}, {event.Dimensions[1], u.DeviceType}, {event.Dimensions[2], u.SubscriptionType}}
}

func (r *Result) date(t int64) string {
	return time.UnixMilli(t).In(r.Loc).Format(time.DateOnly)
}

func (r *Result) day(date string) *Day {
	d := r.Days[date]
	if d == nil {
		d = &Day{Date: date, Segments: map[Segment]*SegmentDay{}}
		r.Days[date] = d
	}
	return d
}

func (d *Day) segment(s Segment) *SegmentDay {
	sd := d.Segments[s]
	if sd == nil {
		sd = &SegmentDay{}
		d.Segments[s] = sd
	}
	return sd
}

func (r *Result) month(name string) *Month {
	m := r.Months[name]
	if m == nil {
		m = &Month{Month: name}
		r.Months[name] = m
	}
	return m
}

func addDays(date string, n int) string {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		panic(err) // dates here are produced by this package
	}
	return t.AddDate(0, 0, n).Format(time.DateOnly)
}

func addMonths(date string, n int) string {
	t, _ := time.Parse(time.DateOnly, date)
	return t.AddDate(0, n, 0).Format(time.DateOnly)
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
