package compactor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/tables"
)

// partFile is the one object of a silver or gold partition: replacing it is a single atomic PUT.
const partFile = "part-0.parquet"

// dayKey is the object key of a silver or gold table's partition for day d.
func dayKey(table string, d int32) string { return table + "/date=" + event.Date(d) + "/" + partFile }

// dayPrefix is the prefix of every object of a table's partition for day d.
func dayPrefix(table string, d int32) string { return table + "/date=" + event.Date(d) + "/" }

// StagingPrefix holds the map step's objects of every run in flight: _staging/run-<R>/ is run R's.
const StagingPrefix = "_staging/"

// stagingRun is the prefix of run's staged objects.
func stagingRun(run int64) string { return fmt.Sprintf("%srun-%d/", StagingPrefix, run) }

// stagedKey names a staged object (row files, see staged.go) after the plan range it holds, so a
// rerun of the same plan rewrites the same objects, and their names sort by topic partition, then
// offset: _staging/run-<R>/<topic>-p<partition>-<from>-<to>.rows.
func stagedKey(run int64, r Range) string {
	return fmt.Sprintf("%s%s-p%05d-%020d-%020d.rows", stagingRun(run), r.Topic, r.Partition, r.From, r.To)
}

// partKey is part i of a bronze partition directory (table/<key>=<value>).
func partKey(dir string, i int) string { return fmt.Sprintf("%s/part-%05d.parquet", dir, i) }

// countryPartition is the Hive partition directory of a country value, escaped like a URL path
// segment; an empty value takes Hive's default partition name.
func countryPartition(country string) string {
	if country == "" {
		return "country=__HIVE_DEFAULT_PARTITION__"
	}
	return "country=" + url.PathEscape(country)
}

// MaxRowsPerRowGroup bounds a row group, and so a reader's memory per column chunk.
const MaxRowsPerRowGroup = 1 << 20

// zstdCodec is shared by every writer: a codec keeps a pool of encoders, several MiB each, which a
// codec per file would allocate again and again.
var zstdCodec = &zstd.Codec{Level: zstd.SpeedFastest}

// writeParquet writes rows (already sorted) as one zstd Parquet file.
func writeParquet[T any](w io.Writer, rows []T) error {
	pw := parquet.NewGenericWriter[T](w,
		parquet.Compression(zstdCodec),
		parquet.MaxRowsPerRowGroup(MaxRowsPerRowGroup),
		parquet.DictionaryMaxBytes(8<<20),
	)
	if _, err := pw.Write(rows); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("close parquet: %w", err)
	}
	return nil
}

// scanObject reads the rows of the object key in batches (tables.Scan) through store.Open, so the
// object is never held whole.
func scanObject[T any](ctx context.Context, store lake.Store, key string, fn func([]T) error) error {
	r, err := store.Open(ctx, key)
	if err != nil {
		return err
	}
	return errors.Join(tables.Scan(r, r.Size(), key, fn), r.Close())
}

// writeParquetStream is writeParquet for rows too many to hold: rows hands them over in batches,
// each written before the next, so the writer holds one row group at most.
func writeParquetStream[T any](w io.Writer, rows func(emit func([]T) error) error) error {
	pw := parquet.NewGenericWriter[T](w,
		parquet.Compression(zstdCodec),
		parquet.MaxRowsPerRowGroup(MaxRowsPerRowGroup),
		parquet.DictionaryMaxBytes(8<<20),
	)
	err := rows(func(batch []T) error {
		if _, err := pw.Write(batch); err != nil {
			return fmt.Errorf("write parquet: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("close parquet: %w", err)
	}
	return nil
}
