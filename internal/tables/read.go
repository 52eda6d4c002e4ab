package tables

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Read appends the rows of one Parquet object of a table whose rows are T to dst; key names the
// object in errors. T may name a subset of the table's columns. Every reader of the lake goes through
// it (or through OpenBronze, which shares its checks):
//
//   - Columns match by name, so their order and columns T lacks do not matter: the contract lists the
//     columns a table has at least, and a lake outlives the binary that wrote it. A column of T that
//     the file lacks, or holds with another type or nesting, is an error, though, where parquet-go
//     would read zeros: T is the schema the compactor writes, there is no older schema to read, so
//     the file is foreign or broken.
//   - The rows read must be the rows the footer counts. dst grows with the rows read, a batch at a
//     time, not by that count: a corrupt footer must give an error, not exhaust memory.
//
// On error dst is returned as it was.
func Read[T any](dst []T, key string, b []byte) ([]T, error) {
	start := len(dst)
	err := Scan(bytes.NewReader(b), int64(len(b)), key, func(rows []T) error {
		dst = append(dst, rows...)
		return nil
	})
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// Scan is Read for an object too large to hold: it reads the object's rows from r (size bytes) in
// batches and hands each to fn, which must not keep the slice. An error of fn stops the scan and is
// returned. The row count is checked at the end, after fn has seen the rows: a caller that must not
// act on a short object gives up its work on any error.
func Scan[T any](r io.ReaderAt, size int64, key string, fn func([]T) error) error {
	f, err := open(key, r, size, parquet.SchemaOf(new(T)))
	if err != nil {
		return err
	}
	pr := parquet.NewGenericReader[T](f)
	defer pr.Close()
	want, got := f.NumRows(), int64(0)
	batch := make([]T, min(scanBatch, max(1, want)))
	for {
		clear(batch) // rows must not share what parquet-go may reuse, such as pointers
		n, err := pr.Read(batch)
		got += int64(n)
		if n > 0 {
			if err := fn(batch[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return checkCount(key, got, want)
}

// scanBatch is how many rows Scan hands over at a time.
const scanBatch = 4096

// checkCount returns an error if the got rows read are not the want rows the footer counts.
func checkCount(key string, got, want int64) error {
	if got != want {
		return fmt.Errorf("%s: %d rows, the footer counts %d", key, got, want)
	}
	return nil
}

// readBufferSize is how much of a column chunk a reader fetches at a time: few enough requests
// for an S3 object (each ReadAt is a ranged GET), little enough memory per column.
const readBufferSize = 1 << 20

// open opens r (size bytes) as a Parquet file holding every column of schema with the schema's type
// and nesting.
func open(key string, r io.ReaderAt, size int64, schema *parquet.Schema) (*parquet.File, error) {
	// parquet-go v0.32.0 allocates the footer length it reads before checking it against the file size.
	var tail [8]byte
	if size < 12 {
		return nil, fmt.Errorf("%s: not a parquet file: too short for its footer", key)
	}
	if n, err := r.ReadAt(tail[:], size-8); n < len(tail) { // io.EOF with every byte read is success
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%s: read footer: %w", key, err)
	}
	if int64(binary.LittleEndian.Uint32(tail[:4])) > size-12 {
		return nil, fmt.Errorf("%s: not a parquet file: too short for its footer", key)
	}
	opts := []parquet.FileOption{parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true)}
	if size >= 16*readBufferSize { // small objects keep parquet-go's pooled 4 KiB buffers
		opts = append(opts, parquet.ReadBufferSize(readBufferSize))
	}
	f, err := parquet.OpenFile(r, size, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: not a parquet file: %w", key, err)
	}
	var missing, differ []string
	for _, path := range schema.Columns() {
		want, _ := schema.Lookup(path...)
		got, ok := f.Schema().Lookup(path...)
		name := strings.Join(path, ".")
		switch {
		case !ok:
			missing = append(missing, name)
		case got.Node.Type().Kind() != want.Node.Type().Kind() ||
			got.MaxDefinitionLevel != want.MaxDefinitionLevel || got.MaxRepetitionLevel != want.MaxRepetitionLevel:
			differ = append(differ, fmt.Sprintf("%s is %s, want %s", name, describe(got), describe(want)))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: no column %s", key, strings.Join(missing, ", "))
	}
	if len(differ) > 0 {
		return nil, fmt.Errorf("%s: column %s", key, strings.Join(differ, "; "))
	}
	return f, nil
}

// describe names a column's physical type and nesting, for errors.
func describe(c parquet.LeafColumn) string {
	s := c.Node.Type().Kind().String()
	switch {
	case c.MaxRepetitionLevel > 0:
		s = "repeated " + s
	case c.MaxDefinitionLevel > 0:
		s = "optional " + s
	}
	return s
}
