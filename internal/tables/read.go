package tables

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Read appends the rows of one Parquet object of a table whose rows are T to dst; key names the
// object in errors. T may name a subset of the table's columns. Every reader of the lake goes through
// it (or through ReadBronze, which shares its checks):
//
//   - Columns match by name, so their order and columns T lacks do not matter: the contract lists the
//     columns a table has at least, and a lake outlives the binary that wrote it. A column of T that
//     the file lacks, or holds with another type or nesting, is an error, though, where parquet-go
//     would read zeros: T is the schema the compactor writes, there is no older schema to read, so
//     the file is foreign or broken.
//   - The rows read must be the rows the footer counts. dst grows ahead of the rows read by at most
//     trustedRows of that count: a corrupt footer must give an error, not exhaust memory.
//
// On error dst is returned as it was.
func Read[T any](dst []T, key string, b []byte) ([]T, error) {
	f, err := open(key, b, parquet.SchemaOf(new(T)))
	if err != nil {
		return dst, err
	}
	r := parquet.NewGenericReader[T](f)
	defer r.Close()
	start, want := len(dst), f.NumRows()
	dst = slices.Grow(dst, int(min(want, trustedRows)))
	batch := make([]T, min(256, max(1, want)))
	for {
		clear(batch) // rows must not share what parquet-go may reuse, such as pointers
		n, err := r.Read(batch)
		dst = append(dst, batch[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst[:start], fmt.Errorf("%s: %w", key, err)
		}
	}
	return checkRows(dst, start, key, want)
}

// trustedRows is how many rows of a file's footer count a reader allocates before it reads them: a
// file of the lake's usual size gets one exact allocation, and a corrupt footer no more than this.
const trustedRows = 1 << 16

// checkRows returns dst if dst[start:] holds the want rows the footer counts, and dst[:start] with an
// error if not.
func checkRows[T any](dst []T, start int, key string, want int64) ([]T, error) {
	if got := int64(len(dst) - start); got != want {
		return dst[:start], fmt.Errorf("%s: %d rows, the footer counts %d", key, got, want)
	}
	return dst, nil
}

// open opens b as a Parquet file holding every column of schema with the schema's type and nesting.
func open(key string, b []byte, schema *parquet.Schema) (*parquet.File, error) {
	// parquet-go v0.32.0 allocates the footer length it reads before checking it against the file size.
	if len(b) < 12 || int64(binary.LittleEndian.Uint32(b[len(b)-8:])) > int64(len(b)-12) {
		return nil, fmt.Errorf("%s: not a parquet file: too short for its footer", key)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
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
