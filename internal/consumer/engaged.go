package consumer

import (
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/rtstate"
)

// engaged accumulates a partition's power-user changes between checkpoints: per calendar month of the
// reporting zone, each user's engaged_ms and valid events (late ones included: power users are not a
// session metric). A user costs one map lookup per event; the maps and slices are cleared, not
// dropped, after a checkpoint, so their memory is reused.
type engaged struct {
	months  map[string]*monthChanges
	lastDay int32 // the last event's day and its month's changes, as events of a day come together
	cur     *monthChanges
}

// monthChanges are one month's changes: users[index[id]] is user id's.
type monthChanges struct {
	month string // YYYY-MM
	index map[string]int32
	users []rtstate.EngagedUser
}

func newEngaged() *engaged {
	return &engaged{months: map[string]*monthChanges{}, lastDay: -1 << 31}
}

// add counts a valid event of user on day with durationMs.
func (e *engaged) add(day int32, user string, durationMs int64) {
	if day != e.lastDay || e.cur == nil {
		e.lastDay = day
		month := event.Month(day)
		e.cur = e.months[month]
		if e.cur == nil {
			e.cur = &monthChanges{month: month, index: map[string]int32{}}
			e.months[month] = e.cur
		}
	}
	m := e.cur
	if i, ok := m.index[user]; ok {
		u := &m.users[i]
		u.EngagedMs += durationMs
		u.Events++
		return
	}
	m.index[user] = int32(len(m.users))
	m.users = append(m.users, rtstate.EngagedUser{Month: m.month, UserID: user, EngagedMs: durationMs, Events: 1})
}

// appendUsers appends the changes, a month's users next to each other, to dst.
func (e *engaged) appendUsers(dst []rtstate.EngagedUser) []rtstate.EngagedUser {
	for _, m := range e.months {
		dst = append(dst, m.users...)
	}
	return dst
}

// reset empties the changes after a checkpoint; months without events are dropped.
func (e *engaged) reset() {
	for month, m := range e.months {
		if len(m.users) == 0 {
			delete(e.months, month)
			continue
		}
		clear(m.index)
		clear(m.users) // drop the strings
		m.users = m.users[:0]
	}
	e.cur = nil
}
