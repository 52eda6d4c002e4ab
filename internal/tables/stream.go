package tables

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// Stream reads the rows of one Parquet object of a table a batch at a time, with Read's checks on
// the columns, so a reader holds a batch of rows rather than the whole object's.
type Stream[T any] struct {
	key  string
	r    *parquet.GenericReader[T]
	rows int64
}

// OpenStream opens the object of size bytes that r reads, named key in errors, as rows of T.
func OpenStream[T any](key string, r io.ReaderAt, size int64) (*Stream[T], error) {
	f, err := open(key, r, size, parquet.SchemaOf(new(T)))
	if err != nil {
		return nil, err
	}
	return &Stream[T]{key: key, r: parquet.NewGenericReader[T](f), rows: f.NumRows()}, nil
}

// NumRows is the number of rows the object holds.
func (s *Stream[T]) NumRows() int64 { return s.rows }

// Read reads up to len(dst) rows into dst and returns how many; io.EOF after the last.
func (s *Stream[T]) Read(dst []T) (int, error) {
	clear(dst) // rows must not share what parquet-go may reuse, such as pointers
	n, err := s.r.Read(dst)
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("%s: %w", s.key, err)
	}
	return n, err
}

// SeekToRow positions the stream at row i (0 is the first).
func (s *Stream[T]) SeekToRow(i int64) error {
	if err := s.r.SeekToRow(i); err != nil {
		return fmt.Errorf("%s: seek to row %d: %w", s.key, i, err)
	}
	return nil
}

// Close releases the reader.
func (s *Stream[T]) Close() error { return s.r.Close() }
