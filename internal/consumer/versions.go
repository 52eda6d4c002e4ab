package consumer

import (
	"strings"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/quantile"
	"github.com/notestream/notestream/internal/rtstate"
)

// versionKey names one day and app version.
type versionKey struct {
	day     int32
	version string
}

// versionCell is one day and app version's change since the last checkpoint.
type versionCell struct {
	events, pageViews int64
	sketch            *quantile.Sketch // page-view durations
}

// versionDeltas accumulates a partition's valid events per day and app version between checkpoints.
// Cells and their sketches are recycled after each checkpoint, so steady state allocates nothing
// per event.
type versionDeltas struct {
	cells map[versionKey]*versionCell
	free  []*versionCell
}

func newVersionDeltas() *versionDeltas { return &versionDeltas{cells: map[versionKey]*versionCell{}} }

// add counts one valid event of day.
func (v *versionDeltas) add(day int32, ev *event.Interaction) {
	c, ok := v.cells[versionKey{day, ev.AppVersion}]
	if !ok {
		if n := len(v.free); n > 0 {
			c, v.free = v.free[n-1], v.free[:n-1]
		} else {
			sk, _ := quantile.New(rtstate.VersionAlpha) // a valid constant: no error
			c = &versionCell{sketch: sk}
		}
		// The event's strings share one allocation with its user and page: keep the version alone.
		v.cells[versionKey{day, strings.Clone(ev.AppVersion)}] = c
	}
	c.events++
	if ev.Action == "page_view" {
		c.pageViews++
		c.sketch.Add(ev.DurationMs)
	}
}

// appendCells appends the cells as rtstate version cells, with their sketches' text in buf; it
// returns both.
func (v *versionDeltas) appendCells(dst []rtstate.VersionCell, buf []byte) ([]rtstate.VersionCell, []byte) {
	type span struct{ from, to int }
	spans := make([]span, 0, len(v.cells))
	start := len(dst)
	for k, c := range v.cells {
		from := len(buf)
		buf = c.sketch.AppendText(buf)
		spans = append(spans, span{from, len(buf)})
		dst = append(dst, rtstate.VersionCell{Day: k.day, Version: k.version, Events: c.events, PageViews: c.pageViews})
	}
	for i, s := range spans { // slice the buffer only once it has stopped growing
		dst[start+i].Sketch = buf[s.from:s.to:s.to]
	}
	return dst, buf
}

// reset empties the deltas after a checkpoint, keeping the cells for reuse.
func (v *versionDeltas) reset() {
	for k, c := range v.cells {
		c.events, c.pageViews = 0, 0
		c.sketch.Reset()
		v.free = append(v.free, c)
		delete(v.cells, k)
	}
}
