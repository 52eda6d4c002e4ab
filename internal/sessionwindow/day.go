package sessionwindow

import "time"

const msPerDay = 24 * 60 * 60 * 1000

// Event times outside years 0000..9999 (what the CSV timestamp format can express) are rejected, which
// keeps every day and deadline computation far from int64 overflow.
var (
	minTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() - 1
)

// Day is the calendar day of t (Unix ms) in loc, as days since 1970-01-01. A nil loc means UTC.
func Day(t int64, loc *time.Location) int32 {
	if loc == nil || loc == time.UTC {
		return int32(floorDiv(t, msPerDay))
	}
	_, off := time.UnixMilli(t).In(loc).Zone()
	return int32(floorDiv(t+int64(off)*1000, msPerDay))
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
// is not necessarily where the date last changed (it may be a later zone transition); hi is exact.
func interval(t int64, loc *time.Location) (lo, hi int64) {
	tm := time.UnixMilli(t).In(loc)
	_, offS := tm.Zone()
	zoneStart, zoneEnd := tm.ZoneBounds()
	off := int64(offS) * 1000
	date := floorDiv(t+off, msPerDay)
	lo = date*msPerDay - off
	if !zoneStart.IsZero() && zoneStart.UnixMilli() > lo {
		lo = zoneStart.UnixMilli()
	}
	// Walk zone periods: within one the offset is fixed, so the next local midnight is plain
	// arithmetic; at a transition the date may change (a jump over midnight) or not (Chile's clocks
	// go back from 24:00 to 23:00, so the date stays).
	cur := t
	for {
		midnight := (floorDiv(cur+off, msPerDay)+1)*msPerDay - off
		if zoneEnd.IsZero() || midnight < zoneEnd.UnixMilli() {
			return lo, midnight
		}
		cur = zoneEnd.UnixMilli()
		next := time.UnixMilli(cur).In(loc)
		_, offS = next.Zone()
		off = int64(offS) * 1000
		if floorDiv(cur+off, msPerDay) != date {
			return lo, cur
		}
		_, zoneEnd = next.ZoneBounds()
	}
}
