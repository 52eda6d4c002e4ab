package consumer

import (
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/rtstate"
)

// cellKey names one day (days since 1970-01-01 in the reporting zone) and segment id.
type cellKey struct {
	day int32
	seg uint32
}

// cell is one day and segment's change since the last checkpoint.
type cell struct {
	users  hll.Sketch // users seen, merged into Redis with PFMERGE
	active bool       // users has elements
	counts rtstate.Counts
}

// deltas accumulates a partition's changes between checkpoints. Cells are recycled after each
// checkpoint, so steady state allocates nothing per event.
type deltas struct {
	cells map[cellKey]*cell
	free  []*cell
}

func newDeltas() *deltas { return &deltas{cells: make(map[cellKey]*cell)} }

func (d *deltas) get(day int32, seg uint32) *cell {
	k := cellKey{day, seg}
	if c, ok := d.cells[k]; ok {
		return c
	}
	var c *cell
	if n := len(d.free); n > 0 {
		c, d.free = d.free[n-1], d.free[:n-1]
	} else {
		c = new(cell)
	}
	d.cells[k] = c
	return c
}

// addUser counts userID as active on day in each of its segments and in the all-users segment.
func (d *deltas) addUser(day int32, segs segIDs, userID string) {
	d.addUserTo(d.get(day, 0), userID)
	for _, s := range segs {
		d.addUserTo(d.get(day, s), userID)
	}
}

func (d *deltas) addUserTo(c *cell, userID string) {
	c.users.AddString(userID)
	c.active = true
}

// count counts one event of day by what the session window made of it, in each of segs and in the
// all-users segment.
func (d *deltas) count(day int32, segs segIDs, r event.Reason) {
	bump(&d.get(day, 0).counts, r)
	for _, s := range segs {
		bump(&d.get(day, s).counts, r)
	}
}

func bump(c *rtstate.Counts, r event.Reason) {
	switch r {
	case event.OK:
		c.Valid++
	case event.Late:
		c.Valid++
		c.Late++
	case event.UnknownAction:
		c.UnknownAction++
	case event.DurationOutOfRange:
		c.DurationOutOfRange++
	case event.Duplicate:
		c.Duplicate++
	}
}

// addSession counts a closed session on the day of its start, in each of segs and in the all-users
// segment.
func (d *deltas) addSession(day int32, segs segIDs, durationMs, actions int64) {
	d.get(day, 0).counts.Sessions.Add(durationMs, actions)
	for _, s := range segs {
		d.get(day, s).counts.Sessions.Add(durationMs, actions)
	}
}

// appendCells appends the cells as rtstate cells, naming segments with segment, with their sketches
// encoded into buf; it returns both.
func (d *deltas) appendCells(dst []rtstate.Cell, buf []byte, segment func(uint32) rtstate.Segment) ([]rtstate.Cell, []byte) {
	type span struct{ from, to int }
	spans := make([]span, 0, len(d.cells))
	start := len(dst)
	for k, c := range d.cells {
		from := len(buf)
		if c.active {
			buf = c.users.AppendRedis(buf)
		}
		spans = append(spans, span{from, len(buf)})
		dst = append(dst, rtstate.Cell{Day: k.day, Segment: segment(k.seg), Counts: c.counts})
	}
	// Slice the buffer only once it has stopped growing.
	for i, s := range spans {
		if s.to > s.from {
			dst[start+i].Users = buf[s.from:s.to:s.to]
		}
	}
	return dst, buf
}

// reset empties the deltas after a checkpoint, keeping the cells for reuse.
func (d *deltas) reset() {
	for k, c := range d.cells {
		if c.active {
			c.users.Reset()
		}
		c.active = false
		c.counts = rtstate.Counts{}
		d.free = append(d.free, c)
		delete(d.cells, k)
	}
}
