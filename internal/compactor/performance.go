package compactor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/notestream/notestream/internal/anomaly"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/quantile"
	"github.com/notestream/notestream/internal/tables"
)

// AnomalyDays lists the days whose gold/anomalies a rebuild of the silver days rewrites, within the
// lake's days [first, last]: each rebuilt day and the same weekday of the anomaly.Weeks weeks after
// it (whose reference includes it), and the day before it (the lake's previous last day, scored only
// now that a later day exists).
func AnomalyDays(silver []int32, first, last int32) []int32 {
	days := map[int32]bool{}
	for _, d := range silver {
		for k := range int32(anomaly.Weeks + 1) {
			days[d+7*k] = true
		}
		days[d-1] = true
	}
	return slices.DeleteFunc(slices.Sorted(maps.Keys(days)), func(d int32) bool { return d < first || d > last })
}

// pageView is the action whose duration_ms stands for page load time.
const pageView = "page_view"

// perfRow is what the performance tables read of a silver interaction.
type perfRow struct {
	UserID     string `parquet:"user_id"`
	ActionType string `parquet:"action_type"`
	DurationMs int64  `parquet:"duration_ms"`
	AppVersion string `parquet:"app_version"`
}

// writePerformance writes gold/app_version_daily of the rebuilt days, gold/device_performance of
// their months and gold/anomalies of AnomalyDays, from the silver and gold just written. It returns
// the anomalies that the lake did not have before, each also logged as a warning.
func (c *Compactor) writePerformance(ctx context.Context, rb Rebuild, users map[string]userInfo, f *fence) (int, error) {
	if len(rb.Silver) == 0 {
		return 0, nil
	}
	rebuilt := map[int32]bool{}
	for _, d := range rb.Silver {
		rebuilt[d] = true
	}
	var objs []object
	for _, m := range rb.Months {
		mf, ml, _ := event.ParseMonth(m)
		lo, hi := max(mf, rb.LakeDays[0]), min(ml, rb.LakeDays[1])
		if lo > hi {
			continue
		}
		days, err := loadDays(c, ctx, lo, hi, func(ctx context.Context, d int32) (dayPerf, error) {
			return c.scanPerformance(ctx, d, rebuilt[d], users)
		})
		if err != nil {
			return 0, fmt.Errorf("read silver interactions of %s: %w", m, err)
		}
		byDevice := map[string]*durations{}
		for i, p := range days {
			if d := lo + int32(i); rebuilt[d] {
				objs = append(objs, object{dayKey(tables.GoldAppVersionDaily, d), func(w io.Writer) error { return writeParquet(w, p.versions) }})
			}
			for dev, h := range p.devices {
				if byDevice[dev] == nil {
					byDevice[dev] = &durations{}
				}
				byDevice[dev].merge(h)
			}
		}
		devices := deviceRows(byDevice)
		objs = append(objs, object{monthKey(tables.GoldDevicePerformance, m), func(w io.Writer) error { return writeParquet(w, devices) }})
	}
	if err := c.putFenced(ctx, f, objs); err != nil {
		return 0, fmt.Errorf("write app versions and devices: %w", err)
	}
	n, err := c.writeAnomalies(ctx, AnomalyDays(rb.Silver, rb.LakeDays[0], rb.LakeDays[1]), rb.LakeDays[0], rb.LakeDays[1], f)
	if err != nil {
		return 0, fmt.Errorf("anomalies: %w", err)
	}
	return n, nil
}

// loadDays reads something of each day lo … hi, Parallel days at a time.
func loadDays[T any](c *Compactor, ctx context.Context, lo, hi int32, read func(context.Context, int32) (T, error)) ([]T, error) {
	out := make([]T, hi-lo+1)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Parallel)
	for d := lo; d <= hi; d++ {
		g.Go(func() error {
			v, err := read(gctx, d)
			if err != nil {
				return fmt.Errorf("%s: %w", event.Date(d), err)
			}
			out[d-lo] = v
			return nil
		})
	}
	return out, g.Wait()
}

// durations counts duration_ms values exactly, for nearest-rank percentiles and moments.
type durations struct {
	h metric.Histogram
	m metric.Moments
}

func (d *durations) add(v int64) {
	d.h.Add(v)
	d.m.Add(v)
}

func (d *durations) merge(o *durations) {
	d.h.Merge(&o.h)
	d.m.Merge(o.m)
}

// percentile is the pct-th nearest-rank percentile of the values (not none).
func (d *durations) percentile(pct uint64) int64 {
	return d.h.At(int64(quantile.Rank(pct, uint64(d.h.N()))))
}

// dayPerf is what the performance tables take of a day's silver interactions: its
// gold/app_version_daily rows (of a rebuilt day) and its page-view durations per device type.
type dayPerf struct {
	versions []tables.AppVersionDaily
	devices  map[string]*durations
}

// scanPerformance reads day d's silver interactions in batches into its dayPerf; the app versions
// only when versions is true.
func (c *Compactor) scanPerformance(ctx context.Context, d int32, versions bool, users map[string]userInfo) (dayPerf, error) {
	p := dayPerf{devices: map[string]*durations{}}
	type versionAcc struct{ all, pageViews durations }
	byVersion := map[string]*versionAcc{}
	err := scanObject(ctx, c.store, dayKey(tables.SilverInteractions, d), func(rows []perfRow) error {
		for _, r := range rows {
			if versions {
				a := byVersion[r.AppVersion]
				if a == nil {
					a = &versionAcc{}
					byVersion[r.AppVersion] = a
				}
				a.all.add(r.DurationMs)
				if r.ActionType == pageView {
					a.pageViews.add(r.DurationMs)
				}
			}
			if r.ActionType == pageView {
				dev := unknownUser.segments[1]
				if u, ok := users[r.UserID]; ok {
					dev = u.segments[1]
				}
				if p.devices[dev] == nil {
					p.devices[dev] = &durations{}
				}
				p.devices[dev].add(r.DurationMs)
			}
		}
		return nil
	})
	if err != nil {
		return dayPerf{}, err
	}
	if versions {
		p.versions = make([]tables.AppVersionDaily, 0, len(byVersion))
		for _, v := range slices.Sorted(maps.Keys(byVersion)) {
			a := byVersion[v]
			row := tables.AppVersionDaily{AppVersion: v, Events: a.all.h.N(), PageViews: a.pageViews.h.N(),
				P95DurationMs: a.all.percentile(95)}
			if a.pageViews.h.N() > 0 {
				p50, p95, p99 := a.pageViews.percentile(50), a.pageViews.percentile(95), a.pageViews.percentile(99)
				row.P50PageViewMs, row.P95PageViewMs, row.P99PageViewMs = &p50, &p95, &p99
			}
			p.versions = append(p.versions, row)
		}
	}
	return p, nil
}

// AllDevices is the device_type of gold/device_performance's totals row.
const AllDevices = event.All

// deviceRows is a month's gold/device_performance from its page-view durations per device type: a
// row per device type in byte order, then the totals row with η².
func deviceRows(byDevice map[string]*durations) []tables.DevicePerformance {
	if len(byDevice) == 0 {
		return []tables.DevicePerformance{}
	}
	row := func(name string, d *durations) tables.DevicePerformance {
		return tables.DevicePerformance{DeviceType: name, PageViews: d.m.N, MeanPageViewMs: d.m.Mean(),
			P50PageViewMs: d.percentile(50), P95PageViewMs: d.percentile(95)}
	}
	var out []tables.DevicePerformance
	var groups []metric.Moments
	var all durations
	for _, name := range slices.Sorted(maps.Keys(byDevice)) {
		d := byDevice[name]
		out = append(out, row(name, d))
		groups = append(groups, d.m)
		all.merge(d)
	}
	total := row(AllDevices, &all)
	if eta, ok := metric.EtaSquared(groups); ok {
		total.EtaSquared = &eta
	}
	return append(out, total)
}

// series names one daily series of the anomaly rule.
type series struct{ metric, dimension, value string }

func compareSeries(a, b series) int {
	return cmp.Or(cmp.Compare(a.metric, b.metric), cmp.Compare(a.dimension, b.dimension), cmp.Compare(a.value, b.value))
}

// daySeries turns a day's gold/daily_segments into its series' values: dau and sessions of every
// segment value, and of everyone (dimension and value "all") as the sums over the countries, of
// which every user has exactly one.
func daySeries(segs []tables.DailySegment) map[series]int64 {
	out := map[series]int64{}
	for _, s := range segs {
		out[series{"dau", s.Dimension, s.Value}] = s.DAU
		out[series{"sessions", s.Dimension, s.Value}] = s.Sessions
		if s.Dimension == event.Dimensions[0] {
			out[series{"dau", event.All, event.All}] += s.DAU
			out[series{"sessions", event.All, event.All}] += s.Sessions
		}
	}
	return out
}

// scoreDay applies the anomaly rule to day d of the lake's days [first, last], given every day's
// series (values[i] for day lo+i; a series absent on a day is 0 there).
func scoreDay(d, first, last, lo int32, values []map[series]int64) []tables.Anomaly {
	out := []tables.Anomaly{}
	if d >= last { // the lake's last day may be partial
		return out
	}
	var refDays []int32
	for k := int32(1); k <= anomaly.Weeks; k++ {
		if r := d - 7*k; r >= first {
			refDays = append(refDays, r)
		}
	}
	if len(refDays) < anomaly.MinReference {
		return out
	}
	names := maps.Clone(values[d-lo])
	for _, r := range refDays {
		maps.Copy(names, values[r-lo])
	}
	ref := make([]float64, len(refDays))
	for _, s := range slices.SortedFunc(maps.Keys(names), compareSeries) {
		for i, r := range refDays {
			ref[i] = float64(values[r-lo][s])
		}
		x := values[d-lo][s]
		sc, _ := anomaly.Of(float64(x), ref)
		if sc.Anomaly() {
			out = append(out, tables.Anomaly{Metric: s.metric, Dimension: s.dimension, Value: s.value,
				Observed: x, Expected: sc.Expected, MAD: sc.MAD, Z: sc.Z, Direction: sc.Direction()})
		}
	}
	return out
}

// writeAnomalies writes gold/anomalies of days (sorted, inside [first, last]) and returns how many of
// their anomalies are new: not in the partition it replaces.
func (c *Compactor) writeAnomalies(ctx context.Context, days []int32, first, last int32, f *fence) (int, error) {
	if len(days) == 0 {
		return 0, nil
	}
	lo, hi := max(first, days[0]-7*anomaly.Weeks), days[len(days)-1]
	values, err := loadDays(c, ctx, lo, hi, func(ctx context.Context, d int32) (map[series]int64, error) {
		key := dayKey(tables.GoldDailySegments, d)
		b, err := c.store.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		segs, err := tables.Read([]tables.DailySegment(nil), key, b)
		return daySeries(segs), err
	})
	if err != nil {
		return 0, fmt.Errorf("read daily segments: %w", err)
	}
	old, err := loadDays(c, ctx, days[0], hi, func(ctx context.Context, d int32) ([]tables.Anomaly, error) {
		key := dayKey(tables.GoldAnomalies, d)
		b, err := c.store.Get(ctx, key)
		if errors.Is(err, lake.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return tables.Read([]tables.Anomaly(nil), key, b)
	})
	if err != nil {
		return 0, fmt.Errorf("read anomalies: %w", err)
	}
	var objs []object
	added := 0
	for _, d := range days {
		rows := scoreDay(d, first, last, lo, values)
		for _, a := range rows {
			if !slices.ContainsFunc(old[d-days[0]], func(o tables.Anomaly) bool {
				return o.Metric == a.Metric && o.Dimension == a.Dimension && o.Value == a.Value && o.Direction == a.Direction
			}) {
				added++
				c.log.Warn("anomaly", "date", event.Date(d), "metric", a.Metric, "dimension", a.Dimension, "value", a.Value,
					"direction", a.Direction, "observed", a.Observed, "expected", a.Expected, "z", a.Z)
			}
		}
		objs = append(objs, object{dayKey(tables.GoldAnomalies, d), func(w io.Writer) error { return writeParquet(w, rows) }})
	}
	if err := c.putFenced(ctx, f, objs); err != nil {
		return 0, fmt.Errorf("write anomalies: %w", err)
	}
	return added, nil
}
