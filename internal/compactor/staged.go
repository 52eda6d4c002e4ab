package compactor

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/rowfile"
	"github.com/notestream/notestream/internal/tables"
)

// Staged objects are private to a run: the map writes them and the reduce reads them back once, so
// they are row files (rowfile), several times cheaper to write and read than Parquet, with a
// checksum per block so that a torn or corrupt one is an error. Each holds one plan range's rows,
// a row file per partition value (stagedSegment) one after another, each sorted by the table's
// staged order, which the reduce merges. One object per range, not per range and value: each of an
// unsorted year's 170 ranges holds rows of every day, which would make 59,216 objects of 80 rows.

// stagedSegment is where one partition value's rows are in a staged object.
type stagedSegment struct {
	Key string `json:"key"`
	Off int64  `json:"off"`
	Len int64  `json:"len"`
}

// stagedRows is how a staged table's rows are encoded, decoded and ordered.
type stagedRows[T any] struct {
	encode  func(*rowfile.Encoder, *T)
	decode  func(*rowfile.Decoder, *T)
	compare func(a, b *T) int // the order of a merge: of staged rows a total one, (partition, offset) deciding last
}

// The map sorts staged rows with compareBronze and compareBronzeUser called directly, not through
// stagedRows.compare: a comparison through a func value makes its arguments escape, and sorting
// values would allocate two rows per comparison.

var stagedInteractions = stagedRows[tables.BronzeInteraction]{
	encode: func(e *rowfile.Encoder, r *tables.BronzeInteraction) {
		e.String(r.UserID)
		e.Int(r.Timestamp)
		e.String(r.ActionType)
		e.String(r.PageID)
		e.Int(r.DurationMs)
		e.String(r.AppVersion)
		e.Int(int64(r.KafkaPartition))
		e.Int(r.KafkaOffset)
		e.Bool(r.Late)
	},
	decode: func(d *rowfile.Decoder, r *tables.BronzeInteraction) {
		r.UserID = d.String()
		r.Timestamp = d.Int()
		r.ActionType = d.String()
		r.PageID = d.String()
		r.DurationMs = d.Int()
		r.AppVersion = d.String()
		r.KafkaPartition = int32(d.Int())
		r.KafkaOffset = d.Int()
		r.Late = d.Bool()
	},
	compare: compareBronze, // silver's order, so that a part is one sorted run for silver's merge
}

var stagedUsers = stagedRows[tables.BronzeUser]{
	encode: func(e *rowfile.Encoder, r *tables.BronzeUser) {
		e.String(r.UserID)
		e.String(r.JoinDate)
		e.String(r.DeviceType)
		e.String(r.SubscriptionType)
		e.Int(int64(r.KafkaPartition))
		e.Int(r.KafkaOffset)
	},
	decode: func(d *rowfile.Decoder, r *tables.BronzeUser) {
		r.UserID = d.String()
		r.JoinDate = d.String()
		r.DeviceType = d.String()
		r.SubscriptionType = d.String()
		r.KafkaPartition = int32(d.Int())
		r.KafkaOffset = d.Int()
	},
	compare: compareBronzeUser,
}

// A day built in buckets (buildBuckets) spills its silver rows as row files too, one per bucket, and
// merges them by user alone: a user's rows are all in one bucket, and the heap keeps its top cursor
// on ties, so they come out together and in their file's order.

var spillInteractions = stagedRows[tables.SilverInteraction]{
	encode: func(e *rowfile.Encoder, r *tables.SilverInteraction) {
		e.String(r.UserID)
		e.Int(r.Timestamp)
		e.String(r.ActionType)
		e.String(r.PageID)
		e.Int(r.DurationMs)
		e.String(r.AppVersion)
	},
	decode: func(d *rowfile.Decoder, r *tables.SilverInteraction) {
		r.UserID = d.String()
		r.Timestamp = d.Int()
		r.ActionType = d.String()
		r.PageID = d.String()
		r.DurationMs = d.Int()
		r.AppVersion = d.String()
	},
	compare: func(a, b *tables.SilverInteraction) int { return strings.Compare(a.UserID, b.UserID) },
}

var spillSessions = stagedRows[tables.SilverSession]{
	encode: func(e *rowfile.Encoder, r *tables.SilverSession) {
		e.String(r.SessionID)
		e.String(r.UserID)
		e.Int(r.Start)
		e.Int(r.End)
		e.Int(int64(math.Float64bits(r.DurationS))) // the bits, so that silver's bytes do not change
		e.Int(r.Actions)
		e.Int(r.EngagedMs)
		e.String(r.Country)
		e.String(r.DeviceType)
		e.String(r.SubscriptionType)
	},
	decode: func(d *rowfile.Decoder, r *tables.SilverSession) {
		r.SessionID = d.String()
		r.UserID = d.String()
		r.Start = d.Int()
		r.End = d.Int()
		r.DurationS = math.Float64frombits(uint64(d.Int()))
		r.Actions = d.Int()
		r.EngagedMs = d.Int()
		r.Country = d.String()
		r.DeviceType = d.String()
		r.SubscriptionType = d.String()
	},
	compare: func(a, b *tables.SilverSession) int { return strings.Compare(a.UserID, b.UserID) },
}

// compareBronzeUser orders bronze/users rows by user, then input order (partition, offset).
func compareBronzeUser(a, b *tables.BronzeUser) int {
	return cmp.Or(cmp.Compare(a.UserID, b.UserID), cmp.Compare(a.KafkaPartition, b.KafkaPartition), cmp.Compare(a.KafkaOffset, b.KafkaOffset))
}

// write writes rows (already sorted) as one staged object.
func (s stagedRows[T]) write(w io.Writer, rows []T) error {
	rw := rowfile.NewWriter(w, s.encode)
	return errors.Join(rw.Write(rows), rw.Close())
}

// mergeFanIn is how many staged objects a reduce merges at once: each open one holds a read buffer,
// a block and a batch of rows (about 150 KiB). A directory with more staged objects than this (an
// unsorted run of many ranges) is merged in groups of them, each group one sorted run of its parts.
const mergeFanIn = 64

// stagedBuffer is the read buffer of each staged object open in a merge: one ranged read of an S3
// object per this many bytes.
const stagedBuffer = 64 << 10

// stagedBatch is the rows decoded at a time from each staged object open in a merge.
const stagedBatch = 64

// stagedMerge reads staged objects, each sorted by compare, as one sequence sorted by compare.
type stagedMerge[T any] struct {
	rows  stagedRows[T]
	heap  []*stagedCursor[T] // a binary min-heap by current row
	close []func() error
}

type stagedCursor[T any] struct {
	r   *rowfile.Reader[T]
	buf []T
	i   int
}

func (c *stagedCursor[T]) row() *T { return &c.buf[c.i] }

// advance moves to the cursor's next row; false at the end of its object.
func (c *stagedCursor[T]) advance() (bool, error) {
	if c.i++; c.i < len(c.buf) {
		return true, nil
	}
	n, err := c.r.Read(c.buf[:cap(c.buf)])
	c.buf, c.i = c.buf[:n], 0
	if err != nil && err != io.EOF {
		return false, err
	}
	return n > 0, nil
}

// openMerge opens segments for a merge.
func openMerge[T any](ctx context.Context, store lake.Store, rows stagedRows[T], segs []stagedSegment) (*stagedMerge[T], error) {
	m := &stagedMerge[T]{rows: rows}
	for _, s := range segs {
		obj, err := store.Open(ctx, s.Key)
		if err != nil {
			return nil, errors.Join(err, m.Close())
		}
		m.close = append(m.close, obj.Close)
		if s.Off+s.Len > obj.Size() {
			return nil, errors.Join(fmt.Errorf("%s: %d bytes, its segment ends at %d: %w", s.Key, obj.Size(), s.Off+s.Len, rowfile.ErrCorrupt), m.Close())
		}
		br := bufio.NewReaderSize(io.NewSectionReader(obj, s.Off, s.Len), stagedBuffer)
		name := fmt.Sprintf("%s@%d", s.Key, s.Off)
		c := &stagedCursor[T]{r: rowfile.NewReader(br, name, rows.decode), buf: make([]T, 0, stagedBatch)}
		c.i = -1
		ok, err := c.advance()
		if err != nil {
			return nil, errors.Join(err, m.Close())
		}
		if ok {
			m.heap = append(m.heap, c)
			m.up(len(m.heap) - 1)
		}
	}
	return m, nil
}

// Read copies the next rows into dst and returns how many: fewer than len(dst) only at the end.
func (m *stagedMerge[T]) Read(dst []T) (int, error) {
	for n := range dst {
		if len(m.heap) == 0 {
			return n, nil
		}
		c := m.heap[0]
		dst[n] = *c.row()
		ok, err := c.advance()
		if err != nil {
			return n, err
		}
		if !ok {
			last := len(m.heap) - 1
			m.heap[0] = m.heap[last]
			m.heap = m.heap[:last]
		}
		m.down(0)
	}
	return len(dst), nil
}

func (m *stagedMerge[T]) less(i, j int) bool {
	return m.rows.compare(m.heap[i].row(), m.heap[j].row()) < 0
}

func (m *stagedMerge[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !m.less(i, p) {
			return
		}
		m.heap[i], m.heap[p] = m.heap[p], m.heap[i]
		i = p
	}
}

func (m *stagedMerge[T]) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(m.heap) {
			return
		}
		if r := l + 1; r < len(m.heap) && m.less(r, l) {
			l = r
		}
		if !m.less(l, i) {
			return
		}
		m.heap[i], m.heap[l] = m.heap[l], m.heap[i]
		i = l
	}
}

// Close releases the staged objects.
func (m *stagedMerge[T]) Close() error {
	var errs []error
	for _, c := range m.close {
		errs = append(errs, c())
	}
	m.close, m.heap = nil, nil
	return errors.Join(errs...)
}
