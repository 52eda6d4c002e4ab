package sessionwindow

import (
	"time"

	"github.com/notestream/notestream/internal/event"
)

const msPerDay = 24 * 60 * 60 * 1000

// Event times outside years 0000..9999 (what the CSV timestamp format can express) are rejected, which
// keeps every day and deadline computation far from int64 overflow.
var (
	minTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() - 1
)

// Days is event.DayOf for a stream of times in one zone: it caches the span of the last day seen, found
// exactly even where a zone skips midnight (time.Date's midnight can then be an hour early).
type Days struct {
	days days
	day  int32
}

// NewDays returns a Day cache for loc; nil means UTC.
func NewDays(loc *time.Location) *Days {
	if loc == nil {
		loc = time.UTC
	}
	return &Days{days: newDays(loc)}
}

// Day is event.DayOf(t, loc). t must lie within years 0000..9999.
func (c *Days) Day(t int64) int32 {
	if c.days.lo <= t && t < c.days.hi {
		return c.day
	}
	c.days.end(t)
	c.day = event.DayOf(t, c.days.loc)
	return c.day
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// days finds the end of an instant's local-date interval: the first later instant at which the local
// date in loc changes. Two instants lie on the same local day iff their intervals end at the same
// instant, so that end identifies the day. It caches the last interval: consecutive events usually
// share one.
//
// Where clocks go back across midnight after it has shown (date d+1, then d again), the repeated
// stretch of date d is an interval of its own, so a session never spans it, while the literal rule
// compares only consecutive events' dates. Chile, going back from 24:00 to 23:00, never shows d+1 and
// is exact. The last such change in the tz database was St. John's and Goose Bay in November 2010.
type days struct {
	loc    *time.Location
	utc    bool
	lo, hi int64 // every instant in [lo, hi) has its interval ending at hi
}

func newDays(loc *time.Location) days {
	return days{loc: loc, utc: loc == time.UTC, lo: 1, hi: 0}
}

// end returns the end of t's local-date interval. t must be within [minTime, maxTime].
func (d *days) end(t int64) int64 {
	if d.lo <= t && t < d.hi {
		return d.hi
	}
	if d.utc {
		d.lo = floorDiv(t, msPerDay) * msPerDay
		d.hi = d.lo + msPerDay
		return d.hi
	}
	d.lo, d.hi = interval(t, d.loc)
	return d.hi
}

// interval returns lo ≤ t < hi such that the local date is constant on [lo, hi) and changes at hi. lo
// is not necessarily where the date last changed; hi is exact. It assumes the UTC offset changes
// at most once within a day, as in every real zone.
//
// time.Time.ZoneBounds is not used: past the tz database's last explicit transition (2037) it returns
// bounds that do not advance.
func interval(t int64, loc *time.Location) (lo, hi int64) {
	off := offset(t, loc)
	date := floorDiv(t+off, msPerDay)
	if lo = date*msPerDay - off; offset(lo, loc) != off {
		lo = t
	}
	// Within one offset the next local midnight is plain arithmetic. If the offset changes before
	// it, find the transition: there the date may change (a jump over midnight) or not (Chile goes
	// back from 24:00 to 23:00 of the same date), and the walk goes on with the new offset.
	cur := t
	for {
		midnight := (floorDiv(cur+off, msPerDay)+1)*msPerDay - off
		if offset(midnight-1, loc) == off && offset(midnight, loc) == off {
			return lo, midnight
		}
		// Binary search for the first instant after cur with another offset: offset(a) == off,
		// offset(b) != off.
		a, b := cur, midnight
		if offset(midnight-1, loc) == off {
			a = midnight - 1
		}
		for b-a > 1 {
			m := a + (b-a)/2
			if offset(m, loc) == off {
				a = m
			} else {
				b = m
			}
		}
		cur, off = b, offset(b, loc)
		if floorDiv(cur+off, msPerDay) != date {
			return lo, cur
		}
	}
}

// offset is loc's UTC offset at t, in ms.
func offset(t int64, loc *time.Location) int64 {
	_, off := time.UnixMilli(t).In(loc).Zone()
	return int64(off) * 1000
}
