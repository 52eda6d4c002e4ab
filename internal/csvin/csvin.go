// Package csvin reads the user_interactions and user_metadata CSV exports and classifies every row.
//
// Each physical row is either readable or rejected with the first unreadable-row reason of the contract
// that applies; none is lost. Empty lines are not rows and are skipped. A header is recognised when the
// first row names at least two of the file's columns; its columns are then matched by name (ASCII case
// folded) in any order and extra ones ignored, and it must name them all. Fields are trimmed of spaces
// and tabs.
package csvin

import (
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/notestream/notestream/internal/event"
)

// Field limits of the contract, in bytes after trimming.
const (
	MaxIDBytes      = 256 // user_id, page_id, and every user_metadata field
	MaxVersionBytes = 64  // app_version
)

var errBadRead = errors.New("csvin: reader returned an invalid count")

// InteractionColumns are the user_interactions columns in their default order.
var InteractionColumns = [...]string{"user_id", "timestamp", "action_type", "page_id", "duration_ms", "app_version"}

// UserColumns are the user_metadata columns in their default order.
var UserColumns = [...]string{"user_id", "join_date", "country", "device_type", "subscription_type"}

// table is what both readers share: the scanner, the header and the column positions.
type table struct {
	s       scanner
	names   []string
	cols    []int // cols[i] is the row field holding names[i]
	nfields int   // fields a row must have
	started bool
	err     error // sticky: io.EOF, a read error or a bad header
	str     []byte
}

func newTable(r io.Reader, names []string) table {
	cols := make([]int, len(names))
	for i := range cols {
		cols[i] = i
	}
	return table{s: scanner{r: r}, names: names, cols: cols, nfields: len(names)}
}

// next reads the next row, skipping a header. It returns false with a malformed row.
func (t *table) next() (ok bool, err error) {
	for {
		if t.err != nil {
			return false, t.err
		}
		malformed, err := t.s.next()
		if err != nil {
			t.err = err
			return false, err
		}
		if !t.started {
			t.started = true
			if !malformed && t.isHeader() {
				if err := t.readHeader(); err != nil {
					t.err = err
					return false, err
				}
				continue
			}
		}
		return !malformed && len(t.s.fields) == t.nfields, nil
	}
}

// isHeader reports whether the current row names two or more of the file's columns: a data row never
// does by accident, and a header that lacks a column is still seen as one, and so reported.
func (t *table) isHeader() bool {
	var named uint64 // bit c: column c is named
	for _, f := range t.s.fields {
		if c := t.column(trim(f)); c >= 0 {
			named |= 1 << c
		}
	}
	return bits.OnesCount64(named) >= 2
}

// column is the index in t.names of the column named name, or -1.
func (t *table) column(name []byte) int {
	for i, n := range t.names {
		if equalFold(name, n) {
			return i
		}
	}
	return -1
}

func (t *table) readHeader() error {
	for i := range t.cols {
		t.cols[i] = -1
	}
	for i, f := range t.s.fields {
		c := t.column(trim(f))
		if c < 0 {
			continue
		}
		if t.cols[c] >= 0 {
			return fmt.Errorf("csvin: header on line %d: column %s appears twice", t.s.rowLine, t.names[c])
		}
		t.cols[c] = i
	}
	for c, i := range t.cols {
		if i < 0 {
			return fmt.Errorf("csvin: header on line %d: no column %s", t.s.rowLine, t.names[c])
		}
	}
	t.nfields = len(t.s.fields)
	return nil
}

// field is the trimmed value of column c in the current row.
func (t *table) field(c int) []byte { return trim(t.s.fields[t.cols[c]]) }

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// InteractionReader streams user_interactions rows.
type InteractionReader struct {
	t     table
	dates dateCache
}

// NewInteractionReader reads interactions CSV from r.
func NewInteractionReader(r io.Reader) *InteractionReader {
	return &InteractionReader{t: newTable(r, InteractionColumns[:])}
}

// Next reads the next row into *row. It returns (event.OK, nil) for a readable row, (reason, nil) for an
// unreadable one (see Line and Raw), and (_, io.EOF) at the end. A header that lacks a column, or a read
// error, is returned as an error, and so is every later call.
//
// The row's strings share one allocation; Action is kept as written (event.Check canonicalises it).
func (r *InteractionReader) Next(row *event.Interaction) (event.Reason, error) {
	var f InteractionFields
	reason, err := r.NextFields(&f)
	if err != nil || reason != event.OK {
		return reason, err
	}
	t := &r.t
	t.str = append(append(append(append(t.str[:0], f.UserID...), f.Action...), f.PageID...), f.AppVersion...)
	s := string(t.str)
	a, p := len(f.UserID), len(f.UserID)+len(f.Action)
	v := p + len(f.PageID)
	*row = event.Interaction{UserID: s[:a], Time: f.Time, Action: s[a:p], PageID: s[p:v], DurationMs: f.DurationMs, AppVersion: s[v:]}
	return event.OK, nil
}

// InteractionFields is a readable interactions row whose text fields are trimmed slices of the
// reader's buffer, valid until the next call: for readers that copy them anyway.
type InteractionFields struct {
	UserID, Action, PageID, AppVersion []byte
	Time, DurationMs                   int64 // Unix milliseconds UTC; milliseconds
}

// NextFields is Next without allocating: it fills *row only for a readable row.
func (r *InteractionReader) NextFields(row *InteractionFields) (event.Reason, error) {
	t := &r.t
	ok, err := t.next()
	if err != nil {
		return 0, err
	}
	if !ok {
		return event.Malformed, nil
	}
	user, ts, action, page, dur, version := t.field(0), t.field(1), t.field(2), t.field(3), t.field(4), t.field(5)
	if len(user) > MaxIDBytes || len(page) > MaxIDBytes || len(version) > MaxVersionBytes {
		return event.FieldTooLong, nil
	}
	if len(user) == 0 {
		return event.MissingUserID, nil
	}
	ms, ok := parseTimestamp(ts, &r.dates)
	if !ok {
		return event.BadTimestamp, nil
	}
	d, ok := parseInt(dur)
	if !ok {
		return event.BadDuration, nil
	}
	// Field by field: a composite literal is built on the stack and copied, and the wide loads of that
	// copy stall on the narrow stores just made.
	row.UserID = user
	row.Action = action
	row.PageID = page
	row.AppVersion = version
	row.Time = ms
	row.DurationMs = d
	return event.OK, nil
}

// Line is the 1-based line number on which the last row began.
func (r *InteractionReader) Line() int64 { return r.t.s.rowLine }

// Raw is the last row's input bytes without its line end, valid until the next call to Next.
// For a row over MaxRowBytes it holds the first MaxRowBytes bytes.
func (r *InteractionReader) Raw() []byte { return r.t.s.raw }

// UserReader streams user_metadata rows.
type UserReader struct{ t table }

// NewUserReader reads user metadata CSV from r.
func NewUserReader(r io.Reader) *UserReader { return &UserReader{t: newTable(r, UserColumns[:])} }

// Next is InteractionReader.Next for user rows.
func (r *UserReader) Next(row *event.User) (event.Reason, error) {
	t := &r.t
	ok, err := t.next()
	if err != nil {
		return 0, err
	}
	if !ok {
		return event.Malformed, nil
	}
	var f [5][]byte
	for c := range f {
		f[c] = t.field(c)
		if len(f[c]) > MaxIDBytes {
			return event.FieldTooLong, nil
		}
	}
	if len(f[0]) == 0 {
		return event.MissingUserID, nil
	}
	if !validDate(f[1]) {
		return event.BadDate, nil
	}
	t.str = t.str[:0]
	for _, b := range f {
		t.str = append(t.str, b...)
	}
	s := string(t.str)
	var out [5]string
	start := 0
	for c, b := range f {
		out[c] = s[start : start+len(b)]
		start += len(b)
	}
	*row = event.User{UserID: out[0], JoinDate: out[1], Country: out[2], DeviceType: out[3], SubscriptionType: out[4]}
	return event.OK, nil
}

// Line is the 1-based line number on which the last row began.
func (r *UserReader) Line() int64 { return r.t.s.rowLine }

// Raw is the last row's input bytes, valid until the next call to Next.
func (r *UserReader) Raw() []byte { return r.t.s.raw }
