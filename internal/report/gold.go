package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/notestream/notestream/internal/tables"
)

// Day is one row of gold/daily_metrics with its date partition.
type Day struct {
	Date string `parquet:"-"`
	tables.DailyMetrics
}

// SegmentDay is one row of gold/daily_segments with its date partition.
type SegmentDay struct {
	Date string `parquet:"-"`
	tables.DailySegment
}

// Month is one row of gold/monthly_metrics with its month partition.
type Month struct {
	Month string `parquet:"-"`
	tables.MonthlyMetrics
}

// Quality is one row of gold/data_quality with its date partition.
type Quality struct {
	Date string `parquet:"-"`
	tables.DataQuality
}

// Gold holds the gold tables the report draws, each sorted by its partition (then segment).
type Gold struct {
	Days     []Day
	Segments []SegmentDay
	Months   []Month
	Quality  []Quality
	Perf     Performance // performance.go
	Engagement
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
	if g.Days, err = readTable(ctx, lake, tables.GoldDailyMetrics, "date", func(d *Day, p string) { d.Date = p }); err != nil {
		return nil, err
	}
	if g.Segments, err = readTable(ctx, lake, tables.GoldDailySegments, "date", func(s *SegmentDay, p string) { s.Date = p }); err != nil {
		return nil, err
	}
	if g.Months, err = readTable(ctx, lake, tables.GoldMonthlyMetrics, "month", func(m *Month, p string) { m.Month = p }); err != nil {
		return nil, err
	}
	if g.Quality, err = readTable(ctx, lake, tables.GoldDataQuality, "date", func(q *Quality, p string) { q.Date = p }); err != nil {
		return nil, err
	}
	if err := g.Perf.load(ctx, lake); err != nil {
		return nil, err
	}
	if err := g.Engagement.load(ctx, lake); err != nil {
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
		got, err := tables.Read([]T(nil), k, b)
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		for i := range got {
			set(&got[i], value)
		}
		rows = append(rows, got...)
	}
	return rows, nil
}

// Through drops the rows after date (YYYY-MM-DD), and the months after date's month, so the report ends
// on that day: a stray event in the next day should not become the headline.
func (g *Gold) Through(date string) {
	g.Days = slices.DeleteFunc(g.Days, func(d Day) bool { return d.Date > date })
	g.Segments = slices.DeleteFunc(g.Segments, func(s SegmentDay) bool { return s.Date > date })
	g.Quality = slices.DeleteFunc(g.Quality, func(q Quality) bool { return q.Date > date })
	g.Months = slices.DeleteFunc(g.Months, func(m Month) bool { return m.Month > date[:min(7, len(date))] })
	g.Perf.through(date)
	g.Engagement.through(date)
}
