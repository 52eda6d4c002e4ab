package compactor

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/notestream/notestream/internal/tables"
)

// A spill file holds rows of one kind in a compact binary form (varints, length-prefixed strings)
// on local disk, written once and read back in order, for the days too large to build in memory.
// It is ours alone: no schema, no checks beyond its length, removed when the day is built.

// spillBuffer is the buffer of each open spill file: a day's buckets are open at once.
const spillBuffer = 32 << 10

type spillWriter struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
	n   int64 // rows written
}

func createSpill(path string) (*spillWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	return &spillWriter{f: f, w: bufio.NewWriterSize(f, spillBuffer)}, nil
}

func (s *spillWriter) int(v int64) { s.buf = binary.AppendVarint(s.buf, v) }

func (s *spillWriter) str(v string) {
	s.buf = binary.AppendUvarint(s.buf, uint64(len(v)))
	s.buf = append(s.buf, v...)
}

// end ends a row.
func (s *spillWriter) end() error {
	s.n++
	_, err := s.w.Write(s.buf)
	s.buf = s.buf[:0]
	return err
}

func (s *spillWriter) Close() error {
	return errors.Join(s.w.Flush(), s.f.Close())
}

type spillReader struct {
	f   *os.File
	r   *bufio.Reader
	err error // the first error; the values read after it are zeros
	buf []byte
}

func openSpill(path string) (*spillReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	return &spillReader{f: f, r: bufio.NewReaderSize(f, spillBuffer)}, nil
}

func (s *spillReader) int() int64 {
	if s.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(s.r)
	s.err = err
	return v
}

// str reads a string, interned in strs when strs is not nil.
func (s *spillReader) str(strs map[string]string) string {
	if s.err != nil {
		return ""
	}
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		s.err = err
		return ""
	}
	if n > math.MaxInt32 {
		s.err = fmt.Errorf("spill: string of %d bytes", n)
		return ""
	}
	if cap(s.buf) < int(n) {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, s.err = io.ReadFull(s.r, b); s.err != nil {
		return ""
	}
	if strs == nil {
		return string(b)
	}
	v, ok := strs[string(b)]
	if !ok {
		v = string(b)
		strs[v] = v
	}
	return v
}

func (s *spillReader) Close() error { return s.f.Close() }

// failed is the reader's error, with io.EOF (a file shorter than its row count) as unexpected.
func (s *spillReader) failed() error {
	if s.err == io.EOF {
		return fmt.Errorf("spill %s: %w", s.f.Name(), io.ErrUnexpectedEOF)
	}
	if s.err != nil {
		return fmt.Errorf("spill %s: %w", s.f.Name(), s.err)
	}
	return nil
}

func putBronze(s *spillWriter, r *tables.BronzeInteraction) error {
	s.str(r.UserID)
	s.int(r.Timestamp)
	s.str(r.ActionType)
	s.str(r.PageID)
	s.int(r.DurationMs)
	s.str(r.AppVersion)
	s.int(int64(r.KafkaPartition))
	s.int(r.KafkaOffset)
	late := int64(0)
	if r.Late {
		late = 1
	}
	s.int(late)
	return s.end()
}

func getBronze(s *spillReader, strs map[string]string, r *tables.BronzeInteraction) {
	r.UserID = s.str(strs)
	r.Timestamp = s.int()
	r.ActionType = s.str(strs)
	r.PageID = s.str(nil) // nearly unique: interning would not pay
	r.DurationMs = s.int()
	r.AppVersion = s.str(strs)
	r.KafkaPartition = int32(s.int())
	r.KafkaOffset = s.int()
	r.Late = s.int() != 0
}

func putInteraction(s *spillWriter, r *tables.SilverInteraction) error {
	s.str(r.UserID)
	s.int(r.Timestamp)
	s.str(r.ActionType)
	s.str(r.PageID)
	s.int(r.DurationMs)
	s.str(r.AppVersion)
	return s.end()
}

func getInteraction(s *spillReader, strs map[string]string, r *tables.SilverInteraction) {
	r.UserID = s.str(strs)
	r.Timestamp = s.int()
	r.ActionType = s.str(strs)
	r.PageID = s.str(nil)
	r.DurationMs = s.int()
	r.AppVersion = s.str(strs)
}

func putSession(s *spillWriter, r *tables.SilverSession) error {
	s.str(r.SessionID)
	s.str(r.UserID)
	s.int(r.Start)
	s.int(r.End)
	s.int(int64(math.Float64bits(r.DurationS)))
	s.int(r.Actions)
	s.int(r.EngagedMs)
	s.str(r.Country)
	s.str(r.DeviceType)
	s.str(r.SubscriptionType)
	return s.end()
}

func getSession(s *spillReader, strs map[string]string, r *tables.SilverSession) {
	r.SessionID = s.str(nil)
	r.UserID = s.str(strs)
	r.Start = s.int()
	r.End = s.int()
	r.DurationS = math.Float64frombits(uint64(s.int()))
	r.Actions = s.int()
	r.EngagedMs = s.int()
	r.Country = s.str(strs)
	r.DeviceType = s.str(strs)
	r.SubscriptionType = s.str(strs)
}

// mergeSpills reads spill files (counts[i] rows in paths[i]), each sorted by user with every user
// in one file only, and hands their rows to emit in batches, sorted by user: each user's rows
// together and in their file's order. So a day's buckets give back the day's rows in the order one
// sort of the whole day would have given.
func mergeSpills[T any](paths []string, counts []int64, get func(*spillReader, map[string]string, *T), user func(*T) string, emit func([]T) error) (err error) {
	h := &spillHeap[T]{user: func(c *spillCursor[T]) string { return user(&c.row) }}
	strs := map[string]string{}
	for i, p := range paths {
		if counts[i] == 0 {
			continue
		}
		r, err := openSpill(p)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, r.Close()) }()
		c := &spillCursor[T]{r: r, left: counts[i]}
		if err := c.next(get, strs); err != nil {
			return err
		}
		h.cursors = append(h.cursors, c)
	}
	heap.Init(h)
	batch := make([]T, 0, 4096)
	for h.Len() > 0 {
		c := h.cursors[0]
		u := user(&c.row)
		for c.ok && user(&c.row) == u {
			batch = append(batch, c.row)
			if len(batch) == cap(batch) {
				if err := emit(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
			if err := c.next(get, strs); err != nil {
				return err
			}
		}
		if c.ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
		if len(strs) > 1<<16 { // interned strings of users long gone
			clear(strs)
		}
	}
	if len(batch) > 0 {
		return emit(batch)
	}
	return nil
}

type spillCursor[T any] struct {
	r    *spillReader
	left int64 // rows not yet read
	row  T     // the current row, when ok
	ok   bool
}

func (c *spillCursor[T]) next(get func(*spillReader, map[string]string, *T), strs map[string]string) error {
	if c.left == 0 {
		c.ok = false
		return nil
	}
	c.left--
	get(c.r, strs, &c.row)
	c.ok = true
	return c.r.failed()
}

// spillHeap orders cursors by their current row's user.
type spillHeap[T any] struct {
	cursors []*spillCursor[T]
	user    func(*spillCursor[T]) string
}

func (h *spillHeap[T]) Len() int           { return len(h.cursors) }
func (h *spillHeap[T]) Less(i, j int) bool { return h.user(h.cursors[i]) < h.user(h.cursors[j]) }
func (h *spillHeap[T]) Swap(i, j int)      { h.cursors[i], h.cursors[j] = h.cursors[j], h.cursors[i] }
func (h *spillHeap[T]) Push(x any)         { h.cursors = append(h.cursors, x.(*spillCursor[T])) }
func (h *spillHeap[T]) Pop() any {
	c := h.cursors[len(h.cursors)-1]
	h.cursors = h.cursors[:len(h.cursors)-1]
	return c
}
