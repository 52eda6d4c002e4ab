// Package sessionwindow splits each user's events into sessions by event time, for the stream and the lake alike.
package sessionwindow

import (
	"time"

	"github.com/notestream/notestream/internal/event"
)

// STUB: the API other packages build against; the implementation replaces these bodies.

// Unbounded as Config.Lateness keeps every session open until Flush (batch mode).
const Unbounded = time.Duration(1<<63 - 1)

// Config sets the session rules. Zero values take the defaults.
type Config struct {
	Gap      time.Duration  // a gap this long or longer starts a new session; default 30m
	Lateness time.Duration  // allowed lateness; default 5m
	Location *time.Location // reporting time zone for the midnight split; default UTC
}

// Session is one closed session.
type Session struct {
	ID        string // ID(UserID, Start)
	UserID    string
	Start     int64 // Unix ms
	End       int64 // Unix ms
	Actions   int64
	EngagedMs int64
}

// Window holds the open sessions of one partition.
type Window struct{}

// New returns an empty window.
func New(cfg Config) (*Window, error) { return &Window{}, nil }

// Add offers one readable event in input order and returns event.OK, a rule reason, or event.Late.
func (w *Window) Add(ev *event.Interaction) event.Reason { return event.OK }

// AdvanceTo moves event time forward without an event (a control record's progress).
func (w *Window) AdvanceTo(t int64) {}

// Flush closes every open session (end of replay, or end of a batch).
func (w *Window) Flush() {}

// Drain appends the sessions closed since the last Drain to dst, in a deterministic order.
func (w *Window) Drain(dst []Session) []Session { return dst }

// Watermark is the event time below which an event is late.
func (w *Window) Watermark() int64 { return 0 }

// Open is the number of open sessions.
func (w *Window) Open() int { return 0 }

// AppendSnapshot appends a versioned encoding of all open state to dst.
func (w *Window) AppendSnapshot(dst []byte) []byte { return dst }

// Restore rebuilds a window from AppendSnapshot's bytes.
func Restore(cfg Config, b []byte) (*Window, error) { return &Window{}, nil }

// ID is the deterministic session_id of (userID, start).
func ID(userID string, start int64) string { return "" }

// Day is the calendar day of t in loc, as days since 1970-01-01.
func Day(t int64, loc *time.Location) int32 { return 0 }
