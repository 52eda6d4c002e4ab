package consumer

import (
	"time"

	"github.com/notestream/notestream/internal/rtstore"
)

// engagedCounts is one user's engaged_ms and events in a month since the last checkpoint.
type engagedCounts struct{ ms, events int64 }

// engaged accumulates a partition's power-user changes between checkpoints: per calendar month of the
// reporting zone, each user's engaged_ms and valid events (late ones included: power users are not a
// session metric). The maps are cleared, not dropped, after a checkpoint, so their buckets are reused.
type engaged struct {
	months    map[string]map[string]engagedCounts
	lastDay   int32 // cache of the last event's day and month, as events of a day come together
	lastMonth string
	cur       map[string]engagedCounts
}

func newEngaged() *engaged {
	return &engaged{months: map[string]map[string]engagedCounts{}, lastDay: -1 << 31}
}

// add counts a valid event of user on day with durationMs.
func (e *engaged) add(day int32, user string, durationMs int64) {
	if day != e.lastDay || e.cur == nil {
		e.lastDay = day
		e.lastMonth = time.Unix(int64(day)*86400, 0).UTC().Format("2006-01")
		e.cur = e.months[e.lastMonth]
		if e.cur == nil {
			e.cur = map[string]engagedCounts{}
			e.months[e.lastMonth] = e.cur
		}
	}
	c := e.cur[user]
	c.ms += durationMs
	c.events++
	e.cur[user] = c
}

// appendUsers appends the changes, a month's users next to each other, to dst.
func (e *engaged) appendUsers(dst []rtstore.EngagedUser) []rtstore.EngagedUser {
	for month, users := range e.months {
		for id, c := range users {
			dst = append(dst, rtstore.EngagedUser{Month: month, UserID: id, EngagedMs: c.ms, Events: c.events})
		}
	}
	return dst
}

// reset empties the changes after a checkpoint; months without events are dropped.
func (e *engaged) reset() {
	for month, users := range e.months {
		if len(users) == 0 {
			delete(e.months, month)
			continue
		}
		clear(users)
	}
	e.cur = nil
}
