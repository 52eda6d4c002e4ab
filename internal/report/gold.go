package report

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Day is one row of gold/daily_metrics. Columns the report does not draw are ignored.
type Day struct {
	Date                 string  `parquet:"-"`
	DAU                  int64   `parquet:"dau"`
	WAU                  int64   `parquet:"wau"`
	MAU                  int64   `parquet:"mau"`
	Stickiness           float64 `parquet:"stickiness"`
	Sessions             int64   `parquet:"sessions"`
	AvgSessionDurationS  float64 `parquet:"avg_session_duration_s"`
	AvgActionsPerSession float64 `parquet:"avg_actions_per_session"`
	P50SessionDurationS  float64 `parquet:"p50_session_duration_s"`
	P95SessionDurationS  float64 `parquet:"p95_session_duration_s"`
	SessionsPerUser      float64 `parquet:"sessions_per_user"`
}

// SegmentDay is one row of gold/daily_segments.
type SegmentDay struct {
	Date                 string  `parquet:"-"`
	Dimension            string  `parquet:"dimension"`
	Value                string  `parquet:"value"`
	DAU                  int64   `parquet:"dau"`
	Sessions             int64   `parquet:"sessions"`
	AvgSessionDurationS  float64 `parquet:"avg_session_duration_s"`
	AvgActionsPerSession float64 `parquet:"avg_actions_per_session"`
}

// Month is one row of gold/monthly_metrics.
type Month struct {
	Month                string  `parquet:"-"`
	MAU                  int64   `parquet:"mau"`
	Sessions             int64   `parquet:"sessions"`
	AvgSessionDurationS  float64 `parquet:"avg_session_duration_s"`
	AvgActionsPerSession float64 `parquet:"avg_actions_per_session"`
}

// Quality is one row of gold/data_quality.
type Quality struct {
	Date               string `parquet:"-"`
	BronzeRows         int64  `parquet:"bronze_rows"`
	ValidEvents        int64  `parquet:"valid_events"`
	UnknownAction      int64  `parquet:"unknown_action"`
	DurationOutOfRange int64  `parquet:"duration_out_of_range"`
	Duplicate          int64  `parquet:"duplicate"`
	Late               int64  `parquet:"late"`
}

// Gold holds the gold tables the report draws, each sorted by its partition (then segment).
type Gold struct {
	Days     []Day
	Segments []SegmentDay
	Months   []Month
	Quality  []Quality
}

// Lake is the part of a lake store the report reads (lake.Store has it).
type Lake interface {
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	Get(ctx context.Context, key string) ([]byte, error)
}

// Load reads the gold tables from a lake. A missing table reads as empty; a table that is present but
// unreadable is an error.
func Load(ctx context.Context, lake Lake) (*Gold, error) {
	var g Gold
	var err error
	if g.Days, err = readTable(ctx, lake, "gold/daily_metrics", "date", func(d *Day, p string) { d.Date = p }); err != nil {
		return nil, err
	}
	if g.Segments, err = readTable(ctx, lake, "gold/daily_segments", "date", func(s *SegmentDay, p string) { s.Date = p }); err != nil {
		return nil, err
	}
	if g.Months, err = readTable(ctx, lake, "gold/monthly_metrics", "month", func(m *Month, p string) { m.Month = p }); err != nil {
		return nil, err
	}
	if g.Quality, err = readTable(ctx, lake, "gold/data_quality", "date", func(q *Quality, p string) { q.Date = p }); err != nil {
		return nil, err
	}
	slices.SortStableFunc(g.Days, func(a, b Day) int { return cmp.Compare(a.Date, b.Date) })
	slices.SortStableFunc(g.Months, func(a, b Month) int { return cmp.Compare(a.Month, b.Month) })
	slices.SortStableFunc(g.Quality, func(a, b Quality) int { return cmp.Compare(a.Date, b.Date) })
	slices.SortStableFunc(g.Segments, func(a, b SegmentDay) int {
		return cmp.Or(cmp.Compare(a.Date, b.Date), cmp.Compare(a.Dimension, b.Dimension), cmp.Compare(a.Value, b.Value))
	})
	return &g, nil
}

// readTable reads every <table>/<key>=<value>/*.parquet object, the glob of the contract's readers,
// setting each row's partition value with set.
func readTable[T any](ctx context.Context, lake Lake, table, key string, set func(*T, string)) ([]T, error) {
	keys, err := lake.List(ctx, table+"/")
	if err != nil {
		return nil, fmt.Errorf("report: list %s: %w", table, err)
	}
	var rows []T
	for _, k := range keys {
		part, file, ok := strings.Cut(strings.TrimPrefix(k, table+"/"), "/")
		value, isPart := strings.CutPrefix(part, key+"=")
		if !ok || !isPart || strings.Contains(file, "/") || strings.HasPrefix(file, ".") || !strings.HasSuffix(file, ".parquet") {
			continue // not a partition's data file
		}
		b, err := lake.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("report: read %s: %w", k, err)
		}
		got, err := decode[T](b)
		if err != nil {
			return nil, fmt.Errorf("report: decode %s: %w", k, err)
		}
		for i := range got {
			set(&got[i], value)
		}
		rows = append(rows, got...)
	}
	return rows, nil
}

// decode reads every row of one Parquet file. It reads in small batches rather than trusting the
// footer's row count for one allocation: a corrupt footer must give an error, not exhaust memory.
func decode[T any](b []byte) (rows []T, err error) {
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

// Through drops the rows after date (YYYY-MM-DD), and the months after date's month, so the report ends
// on that day: a stray event in the next day should not become the headline.
func (g *Gold) Through(date string) {
	g.Days = slices.DeleteFunc(g.Days, func(d Day) bool { return d.Date > date })
	g.Segments = slices.DeleteFunc(g.Segments, func(s SegmentDay) bool { return s.Date > date })
	g.Quality = slices.DeleteFunc(g.Quality, func(q Quality) bool { return q.Date > date })
	g.Months = slices.DeleteFunc(g.Months, func(m Month) bool { return m.Month > date[:min(7, len(date))] })
}
