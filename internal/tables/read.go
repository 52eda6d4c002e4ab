package tables

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Read decodes every row of one Parquet file of a table whose rows are T, for readers of a lake
// they did not write. It reads in small batches rather than trusting the footer's row count for one
// allocation: a corrupt footer must give an error, not exhaust memory.
//
// Columns match by name, so their order and columns T lacks do not matter: the contract lists the
// columns a table has at least, and a lake outlives the binary that wrote it. A column of T that the
// file lacks is an error, though, where parquet-go would read zeros: T is the schema the compactor
// writes, there is no older schema to read, so the file is foreign or broken.
func Read[T any](b []byte) (rows []T, err error) {
	// parquet-go v0.32.0 allocates the footer length it reads before checking it against the file size.
	if len(b) < 12 || int64(binary.LittleEndian.Uint32(b[len(b)-8:])) > int64(len(b)-12) {
		return nil, errors.New("not a parquet file: too short for its footer")
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, err
	}
	r := parquet.NewGenericReader[T](f)
	defer r.Close()
	var missing []string
	for _, col := range r.Schema().Columns() {
		if _, ok := f.Schema().Lookup(col...); !ok {
			missing = append(missing, strings.Join(col, "."))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no column %s", strings.Join(missing, ", "))
	}
	batch := make([]T, 256)
	for {
		n, err := r.Read(batch)
		rows = append(rows, batch[:n]...)
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
