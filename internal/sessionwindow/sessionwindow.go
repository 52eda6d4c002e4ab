// Package sessionwindow splits each user's events into sessions by event time, for the stream and the lake alike.
package sessionwindow

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/notestream/notestream/internal/event"
)

// Unbounded as Config.Lateness keeps every session open until Flush (batch mode).
const Unbounded = time.Duration(1<<63 - 1)

// Config sets the session rules. Zero values take the defaults.
type Config struct {
	Gap      time.Duration  // a gap this long or longer starts a new session; default 30m
	Lateness time.Duration  // allowed lateness; default 5m
	Location *time.Location // reporting time zone for the midnight split; default UTC
}

func (c Config) withDefaults() Config {
	if c.Gap == 0 {
		c.Gap = 30 * time.Minute
	}
	if c.Lateness == 0 {
		c.Lateness = event.DefaultLateness
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	return c
}

// Validate reports a config the window cannot run with.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Gap < time.Millisecond || c.Gap > 24*time.Hour {
		return fmt.Errorf("sessionwindow: gap %v outside 1ms..24h", c.Gap)
	}
	if c.Lateness < 0 {
		return fmt.Errorf("sessionwindow: negative lateness %v", c.Lateness)
	}
	return nil
}

// Session is one closed session.
type Session struct {
	UserID    string
	Start     int64 // Unix ms
	End       int64 // Unix ms
	Actions   int64
	EngagedMs int64
}

// Window holds the open sessions of one partition. It is not safe for concurrent use.
//
// Sessions are those of the batch definition over the events the window accepted: a user's events in
// time order (ties: input order), split where the gap is Gap or more or the local date in Location
// changes. Events may arrive out of order: one before a session's start extends it, one between two
// sessions may merge them. Event time is the highest time seen (events and AdvanceTo); the watermark
// is event time minus Lateness; an event is late iff its time is below the watermark. A session closes
// once the watermark reaches min(end + Gap, the end of its local day); no event that is not late could
// still change it. Flush closes everything. With Lateness Unbounded nothing is late and nothing closes
// before Flush, so any input order gives the batch sessions.
type Window struct {
	gap       int64 // ms
	lateness  int64 // ms; ignored when unbounded
	unbounded bool
	loc       *time.Location
	days      days

	maxTime int64 // highest event time seen (events and AdvanceTo); noTime before any

	index userIndex     // user → slot of the earliest of its open sessions
	slots []openSession // open sessions; free slots have heapPos < 0
	free  []int32
	heap  []deadline // min-heap of close deadlines, one entry per open session

	due  []int32   // scratch: slots closing now
	done []Session // closed since the last Drain
}

const noTime = math.MinInt64

// openSession is the state of one open session: 64 bytes plus 8 per event (its keys).
type openSession struct {
	user    string
	dayEnd  int64 // end of the local-date interval the session lies in; identifies its day
	engaged int64
	// keys holds one key per event, strictly ascending; see makeKey. They give the start (first key),
	// end (last key) and actions (len), and find duplicates by binary search.
	keys    []uint64
	next    int32 // the user's next open session by start, or -1
	heapPos int32 // index in Window.heap, or -1 for a free slot
}

// makeKey packs an event's time, relative to its day's end, above a 32-bit hash of (action, page):
// keys of one day sort by time, and a duplicate (same user, time, action, page) has an equal key.
// A day interval is at most ~2 days, far below the 49 days 32 bits of milliseconds can hold.
func makeKey(t, dayEnd int64, h uint32) uint64 {
	return uint64(uint32(t-dayEnd+1<<32))<<32 | uint64(h)
}

func keyTime(k uint64, dayEnd int64) int64 {
	return dayEnd - 1<<32 + int64(k>>32)
}

// hashEvent is 32-bit FNV-1a of action, a separator and page. Two distinct events of one user with the
// same millisecond collide with probability 2^-32 and the second would be dropped as a duplicate.
// The hash is stored in snapshots, so it must never change within a snapshot version.
func hashEvent(action, page string) uint32 {
	const prime = 16777619
	h := uint32(2166136261)
	for i := 0; i < len(action); i++ {
		h = (h ^ uint32(action[i])) * prime
	}
	h = (h ^ 0xff) * prime
	for i := 0; i < len(page); i++ {
		h = (h ^ uint32(page[i])) * prime
	}
	return h
}

func (s *openSession) start() int64 { return keyTime(s.keys[0], s.dayEnd) }
func (s *openSession) end() int64   { return keyTime(s.keys[len(s.keys)-1], s.dayEnd) }

// insert adds key, keeping keys sorted; false if it is already there (a duplicate).
func (s *openSession) insert(key uint64) bool {
	if n := len(s.keys); n == 0 || key > s.keys[n-1] {
		s.keys = append(s.keys, key)
		return true
	}
	i, found := slices.BinarySearch(s.keys, key)
	if found {
		return false
	}
	s.keys = slices.Insert(s.keys, i, key)
	return true
}

// New returns an empty window.
func New(cfg Config) (*Window, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	w := &Window{
		gap:       cfg.Gap.Milliseconds(),
		unbounded: cfg.Lateness == Unbounded,
		loc:       cfg.Location,
		days:      newDays(cfg.Location),
		maxTime:   noTime,
		index:     newUserIndex(0),
	}
	if !w.unbounded {
		w.lateness = cfg.Lateness.Milliseconds()
	}
	return w, nil
}

// Add offers one readable event in input order and returns event.OK, a rule reason, or event.Late.
//
// Rule-invalid events (event.Check) change nothing, not even event time, so the answer for every later
// event is the same whether or not bad rows reached the window. An event time outside years 0000..9999
// gives event.BadTimestamp. Otherwise the event raises the window's event time, which may close
// sessions; it is then late if older than the watermark, a duplicate if its session already holds the
// same (time, action, page), or else merged into the user's sessions. Add keeps ev.UserID.
func (w *Window) Add(ev *event.Interaction) event.Reason {
	if r := event.Check(ev); r != event.OK {
		return r
	}
	if ev.Time < minTime || ev.Time > maxTime {
		return event.BadTimestamp
	}
	w.AdvanceTo(ev.Time)
	if ev.Time < w.Watermark() {
		return event.Late
	}
	return w.place(ev)
}

// place puts an event that is not late into the user's open sessions. Batch sessions are runs of a
// user's time-ordered events with gaps under w.gap on one local day; an event joins the open session
// before it, the one after it, or both (merging them), or starts its own. Sessions that already
// closed cannot be affected: the event is at or past their deadline.
func (w *Window) place(ev *event.Interaction) event.Reason {
	t := ev.Time
	dayEnd := w.days.end(t)
	key := makeKey(t, dayEnd, hashEvent(ev.Action, ev.PageID))

	pos, tag, head := w.findUser(ev.UserID)
	if head < 0 {
		w.index.set(pos, tag, w.open(ev.UserID, dayEnd, key, ev.DurationMs, -1))
		return event.OK
	}
	// prev is the user's last session starting at or before t. The end is checked first: in order,
	// t is past it, and the end's key is where the event goes, while the start's may be a cache
	// miss of its own.
	prev, next := int32(-1), head
	for next >= 0 {
		if s := &w.slots[next]; t < s.end() && t < s.start() {
			break
		}
		prev, next = next, w.slots[next].next
	}
	joinPrev := prev >= 0 && w.slots[prev].dayEnd == dayEnd && t-w.slots[prev].end() < w.gap
	joinNext := next >= 0 && w.slots[next].dayEnd == dayEnd && w.slots[next].start()-t < w.gap

	switch {
	case joinPrev:
		p := &w.slots[prev]
		if !p.insert(key) {
			return event.Duplicate
		}
		p.engaged += ev.DurationMs
		if joinNext {
			n := &w.slots[next]
			p.keys = append(p.keys, n.keys...)
			p.engaged += n.engaged
			p.next = n.next
			w.heapRemove(n.heapPos)
			w.release(next)
		}
	case joinNext:
		n := &w.slots[next]
		n.insert(key) // t is before n's start: never a duplicate
		n.engaged += ev.DurationMs
	default:
		slot := w.open(ev.UserID, dayEnd, key, ev.DurationMs, next)
		if prev < 0 {
			w.index.set(pos, tag, slot)
		} else {
			w.slots[prev].next = slot
		}
	}
	return event.OK
}

// open starts a session of one event in a free slot and schedules its close.
func (w *Window) open(user string, dayEnd int64, key uint64, engaged int64, next int32) int32 {
	var slot int32
	if n := len(w.free); n > 0 {
		slot = w.free[n-1]
		w.free = w.free[:n-1]
	} else {
		w.slots = append(w.slots, openSession{})
		slot = int32(len(w.slots) - 1)
	}
	s := &w.slots[slot]
	s.user, s.dayEnd, s.engaged, s.next = user, dayEnd, engaged, next
	s.keys = append(s.keys[:0], key)
	w.heapPush(deadline{at: w.deadline(s), slot: slot})
	return slot
}

// maxReusedKeys bounds the key capacity a free slot keeps for its next session.
const maxReusedKeys = 1024

func (w *Window) release(slot int32) {
	s := &w.slots[slot]
	s.user = ""
	s.keys = s.keys[:0]
	if cap(s.keys) > maxReusedKeys {
		s.keys = nil
	}
	s.heapPos = -1
	w.free = append(w.free, slot)
}

// deadline is when the watermark closes s: once no event that is not late can join it, that is one
// gap after its last event or at the end of its day, whichever is first.
func (w *Window) deadline(s *openSession) int64 {
	return min(s.end()+w.gap, s.dayEnd)
}

// AdvanceTo moves event time forward without an event (a control record's progress).
func (w *Window) AdvanceTo(t int64) {
	if t <= w.maxTime {
		return
	}
	w.maxTime = t
	if len(w.heap) > 0 && w.heap[0].at <= w.Watermark() {
		w.closeDue()
	}
}

// closeDue closes every session whose deadline the watermark has reached. Heap keys are lazy: a
// session extended after it was scheduled keeps its old, earlier key and is rescheduled when popped.
func (w *Window) closeDue() {
	wm := w.Watermark()
	for len(w.heap) > 0 && w.heap[0].at <= wm {
		slot := w.heap[0].slot
		if at := w.deadline(&w.slots[slot]); at > wm {
			w.heap[0].at = at
			w.heapDown(0)
			continue
		}
		w.heapRemove(0)
		w.due = append(w.due, slot)
	}
	w.emitDue()
}

// Flush closes every open session (end of replay, or end of a batch).
func (w *Window) Flush() {
	for _, d := range w.heap {
		w.due = append(w.due, d.slot)
	}
	w.heap = w.heap[:0]
	w.emitDue()
}

// emitDue emits the sessions in w.due ordered by (deadline, user, start) and frees them. Every session
// closed later has a later deadline, so the whole output is in that order however often the caller
// drains, snapshots or restores.
func (w *Window) emitDue() {
	if len(w.due) == 0 {
		return
	}
	slices.SortFunc(w.due, func(a, b int32) int {
		sa, sb := &w.slots[a], &w.slots[b]
		if c := cmp.Compare(w.deadline(sa), w.deadline(sb)); c != 0 {
			return c
		}
		if c := cmp.Compare(sa.user, sb.user); c != 0 {
			return c
		}
		return cmp.Compare(sa.start(), sb.start())
	})
	for _, slot := range w.due {
		s := &w.slots[slot]
		start := s.start()
		w.done = append(w.done, Session{
			UserID:    s.user,
			Start:     start,
			End:       s.end(),
			Actions:   int64(len(s.keys)),
			EngagedMs: s.engaged,
		})
		w.unlink(slot)
		w.release(slot)
	}
	w.due = w.due[:0]
}

// unlink removes slot from its user's list of open sessions.
func (w *Window) unlink(slot int32) {
	s := &w.slots[slot]
	pos, tag, head := w.findUser(s.user)
	if head == slot {
		if s.next < 0 {
			w.index.delete(pos)
		} else {
			w.index.set(pos, tag, s.next)
		}
		return
	}
	for p := head; p >= 0; p = w.slots[p].next {
		if w.slots[p].next == slot {
			w.slots[p].next = s.next
			return
		}
	}
}

// Drain appends the sessions closed since the last Drain to dst, in a deterministic order: by close
// deadline, then user, then start.
func (w *Window) Drain(dst []Session) []Session {
	dst = append(dst, w.done...)
	clear(w.done)
	w.done = w.done[:0]
	return dst
}

// Watermark is the event time below which an event is late: the highest event time seen minus the
// allowed lateness; math.MinInt64 before any event and in batch mode.
func (w *Window) Watermark() int64 {
	if w.unbounded || w.maxTime < math.MinInt64+w.lateness {
		return math.MinInt64
	}
	return w.maxTime - w.lateness
}

// Open is the number of open sessions.
func (w *Window) Open() int { return len(w.heap) }

// ID is the deterministic session_id of (userID, start): the first 8 bytes of
// SHA-256(userID + "@" + decimal start ms), in lower-case hex (16 characters). In DuckDB:
// left(sha256(user_id || '@' || epoch_ms("start")), 16).
func ID(userID string, start int64) string {
	var buf [128]byte
	b := append(buf[:0], userID...)
	b = append(b, '@')
	b = strconv.AppendInt(b, start, 10)
	sum := sha256.Sum256(b)
	var out [16]byte
	hex.Encode(out[:], sum[:8])
	return string(out[:])
}

// ID is the session's session_id, ID(UserID, Start). It is computed on demand: the stream never needs
// it, and a string per closed session would be the window's only allocation.
func (s Session) ID() string { return ID(s.UserID, s.Start) }

var errCorrupt = errors.New("sessionwindow: corrupt snapshot")
