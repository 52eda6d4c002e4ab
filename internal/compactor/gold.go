package compactor

import (
	"context"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/tables"
)

// writeGold writes daily_metrics for rb.Gold, monthly_metrics, power_users and session_frequency for
// rb.Months, and cohort_retention as rb.Cohorts says. built holds the activity of the days just
// rebuilt; every other day of rb.Load is read back from silver, and for CohortsAll the other lake
// days only for their active users. It returns the number of cohort weeks written or deleted.
func (c *Compactor) writeGold(ctx context.Context, rb Rebuild, built map[int32]*activity, users map[string]userInfo, f *fence) (int, error) {
	if len(rb.Gold) == 0 && rb.Cohorts == CohortsNone {
		return 0, nil
	}
	var index *cohortIndex
	if rb.Cohorts == CohortsChanged {
		var err error
		if index, err = c.loadCohortIndex(ctx); err != nil {
			return 0, err
		}
		if index == nil { // a lake written before the index: build it
			rb.Cohorts = CohortsAll
		}
	}
	lo, hi := rb.Load[0], rb.Load[1]
	switch {
	case rb.Cohorts == CohortsAll && len(rb.Gold) == 0:
		lo, hi = rb.LakeDays[0], rb.LakeDays[1]
	case rb.Cohorts == CohortsAll:
		lo, hi = min(lo, rb.LakeDays[0]), max(hi, rb.LakeDays[1])
	case len(rb.Gold) == 0:
		lo, hi = 0, -1 // new metadata only: the index holds all the activity it needs
	}
	full := func(d int32) bool { return len(rb.Gold) > 0 && d >= rb.Load[0] && d <= rb.Load[1] }
	days := make([]*activity, hi-lo+1)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Parallel)
	for d := lo; d <= hi; d++ {
		if a := built[d]; a != nil {
			days[d-lo] = a
			continue
		}
		g.Go(func() error {
			a, err := c.silverActivity(gctx, d, full(d))
			days[d-lo] = a
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("load activity: %w", err)
	}

	// Users as small integers, so the rolling windows count with slices instead of string maps.
	ids := map[string]int32{}
	var names []string // id → user
	active := make([][]int32, len(days))
	for i, a := range days {
		active[i] = make([]int32, len(a.users))
		for j, u := range a.users {
			id, ok := ids[u]
			if !ok {
				id = int32(len(ids))
				ids[u] = id
				names = append(names, u)
			}
			active[i][j] = id
		}
	}
	eng := engagementInput{lo: lo, days: days, active: active, names: names}

	wau := newDistinct(len(ids))
	mau := newDistinct(len(ids))
	var objs []object
	gold := map[int32]bool{}
	for _, d := range rb.Gold {
		gold[d] = true
	}
	for d := lo; d <= hi; d++ {
		i := d - lo
		wau.add(active[i])
		mau.add(active[i])
		if i >= event.WAUDays {
			wau.remove(active[i-event.WAUDays])
		}
		if i >= event.MAUDays {
			mau.remove(active[i-event.MAUDays])
		}
		if !gold[d] {
			continue
		}
		a := days[i]
		dau := int64(len(a.users))
		row := tables.DailyMetrics{
			DAU:                  dau,
			WAU:                  wau.n,
			MAU:                  mau.n,
			Stickiness:           metric.Ratio(dau, mau.n),
			Sessions:             a.sessions.Count,
			AvgSessionDurationS:  a.sessions.AvgDurationS(),
			AvgActionsPerSession: a.sessions.AvgActions(),
			P50SessionDurationS:  durationPercentile(&a.durations, 0.50),
			P95SessionDurationS:  durationPercentile(&a.durations, 0.95),
			SessionsPerUser:      metric.Ratio(a.sessions.Count, dau),
		}
		objs = append(objs, object{dayKey(tables.GoldDailyMetrics, d), func(w io.Writer) error {
			return writeParquet(w, []tables.DailyMetrics{row})
		}})
	}

	for _, m := range rb.Months {
		first, last, _ := event.ParseMonth(m)
		month := newDistinct(len(ids))
		var sessions metric.Sessions
		for d := max(first, lo); d <= min(last, hi); d++ {
			month.add(active[d-lo])
			s := days[d-lo].sessions
			sessions.Count += s.Count
			sessions.DurationMs += s.DurationMs
			sessions.Actions += s.Actions
		}
		row := tables.MonthlyMetrics{
			MAU:                  month.n,
			Sessions:             sessions.Count,
			AvgSessionDurationS:  sessions.AvgDurationS(),
			AvgActionsPerSession: sessions.AvgActions(),
			SessionsPerUser:      metric.Ratio(sessions.Count, month.n),
		}
		objs = append(objs, object{monthKey(tables.GoldMonthlyMetrics, m), func(w io.Writer) error { return writeParquet(w, []tables.MonthlyMetrics{row}) }})
	}
	months, err := c.monthlyEngagement(rb, &eng)
	if err != nil {
		return 0, err
	}
	objs = append(objs, months...)
	var cohorts cohortWrite
	if rb.Cohorts != CohortsNone {
		if cohorts, err = c.cohortRetention(rb, index, &eng, users); err != nil {
			return 0, fmt.Errorf("cohort retention: %w", err)
		}
		objs = append(objs, cohorts.objects...)
	}
	if err := c.putFenced(ctx, f, objs); err != nil {
		return 0, fmt.Errorf("write daily and monthly metrics: %w", err)
	}
	if rb.Cohorts != CohortsNone {
		if err := c.finishCohorts(ctx, rb, cohorts, f); err != nil {
			return 0, fmt.Errorf("cohort retention: %w", err)
		}
	}
	c.progress.Add(int64(len(rb.Gold)))
	return len(cohorts.objects) + len(cohorts.deleted), nil
}

// distinct counts the distinct users of a multiset of days.
type distinct struct {
	count []int32 // days each user is active in
	n     int64   // users with a non-zero count
}

func newDistinct(users int) *distinct { return &distinct{count: make([]int32, users)} }

func (s *distinct) add(ids []int32) {
	for _, id := range ids {
		if s.count[id] == 0 {
			s.n++
		}
		s.count[id]++
	}
}

func (s *distinct) remove(ids []int32) {
	for _, id := range ids {
		s.count[id]--
		if s.count[id] == 0 {
			s.n--
		}
	}
}

// durationPercentile is metric.NearestRank of the durations in seconds of h (in ms), 0 for none.
func durationPercentile(h *metric.Histogram, p float64) float64 {
	if h.N() == 0 {
		return 0
	}
	return metric.DurationS(0, h.At(int64(metric.NearestRankIndex(int(h.N()), p))))
}
