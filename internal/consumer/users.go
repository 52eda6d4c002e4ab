package consumer

import (
	"sync"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/rtstate"
)

// segIDs are a user's segment values (country, device_type, subscription_type) as ids of Users' interned
// segments; id 0 is the segment of every user.
type segIDs [len(event.Dimensions)]uint32

// Users is the dimension table of user metadata, read from the users topic: the stream's broadcast join.
// Segment values are interned so the hot path handles small integers instead of strings.
type Users struct {
	mu       sync.RWMutex
	byID     map[string]segIDs
	segs     []rtstate.Segment // by id; segs[0] is the zero Segment
	segIndex map[rtstate.Segment]uint32
	unknown  segIDs
}

// NewUsers returns an empty table.
func NewUsers() *Users {
	u := &Users{
		byID:     make(map[string]segIDs),
		segs:     []rtstate.Segment{{}},
		segIndex: map[rtstate.Segment]uint32{{}: 0},
	}
	for i, dim := range event.Dimensions {
		u.unknown[i] = u.intern(rtstate.Segment{Dimension: dim, Value: event.Unknown})
	}
	return u
}

// intern returns the id of seg, adding it if new; the caller holds mu for writing.
func (u *Users) intern(seg rtstate.Segment) uint32 {
	if id, ok := u.segIndex[seg]; ok {
		return id
	}
	id := uint32(len(u.segs))
	u.segs = append(u.segs, seg)
	u.segIndex[seg] = id
	return id
}

// Put sets a user's metadata, replacing any earlier.
func (u *Users) Put(m *event.User) {
	u.mu.Lock()
	defer u.mu.Unlock()
	values := [len(event.Dimensions)]string{m.Country, m.DeviceType, m.SubscriptionType}
	var ids segIDs
	for i, dim := range event.Dimensions {
		ids[i] = u.intern(rtstate.Segment{Dimension: dim, Value: values[i]})
	}
	u.byID[m.UserID] = ids
}

// Delete forgets a user (a tombstone on the compacted topic): it falls back to unknown.
func (u *Users) Delete(userID string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.byID, userID)
}

// Segments returns the segment ids of a user, unknown ones without metadata.
func (u *Users) Segments(userID string) segIDs {
	u.mu.RLock()
	ids, ok := u.byID[userID]
	u.mu.RUnlock()
	if !ok {
		return u.unknown
	}
	return ids
}

// Segment returns the segment of an id from Segments; 0 is every user.
func (u *Users) Segment(id uint32) rtstate.Segment {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return u.segs[id]
}

// Len is the number of users with metadata.
func (u *Users) Len() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.byID)
}
