package reference

import (
	"slices"

	"github.com/notestream/notestream/internal/anomaly"
	"github.com/notestream/notestream/internal/event"
)

// Durations holds the duration_ms of a set of events, for nearest-rank percentiles.
type Durations []int64

// Percentile is the nearest-rank pct-th percentile: the smallest value whose rank r (from 1, in
// ascending order) has r/n ≥ pct/100. ok is false for no values.
func (d Durations) Percentile(pct int) (v int64, ok bool) {
	s := slices.Clone(d)
	slices.Sort(s)
	for i, v := range s {
		if (i+1)*100 >= pct*len(s) {
			return v, true
		}
	}
	return 0, false
}

// AppVersionDay is one app version's valid events of a day.
type AppVersionDay struct {
	Events    int64
	PageViews Durations // page_view durations
	All       Durations // every valid event's duration
}

// Anomaly is a series' day that the same-weekday rule marks.
type Anomaly struct {
	Metric, Dimension, Value string
	Observed                 int64
	Score                    anomaly.Score
}

// Performance holds the section 9 results.
type Performance struct {
	AppVersions map[string]map[string]*AppVersionDay // date → app version
	Devices     map[string]map[string]Durations      // month → device type → page-view durations
	Anomalies   map[string][]Anomaly                 // date → anomalies, for every scored date
}

func (r *Result) computePerformance(byUser map[string][]event.Interaction) {
	p := &r.Performance
	p.AppVersions = map[string]map[string]*AppVersionDay{}
	p.Devices = map[string]map[string]Durations{}
	p.Anomalies = map[string][]Anomaly{}
	for id, evs := range byUser {
		device := r.user(id).DeviceType
		for _, ev := range evs {
			date := r.date(ev.Time)
			if p.AppVersions[date] == nil {
				p.AppVersions[date] = map[string]*AppVersionDay{}
			}
			v := p.AppVersions[date][ev.AppVersion]
			if v == nil {
				v = &AppVersionDay{}
				p.AppVersions[date][ev.AppVersion] = v
			}
			v.Events++
			v.All = append(v.All, ev.DurationMs)
			if ev.Action == "page_view" {
				v.PageViews = append(v.PageViews, ev.DurationMs)
				month := date[:7]
				if p.Devices[month] == nil {
					p.Devices[month] = map[string]Durations{}
				}
				p.Devices[month][device] = append(p.Devices[month][device], ev.DurationMs)
			}
		}
	}
	if r.FirstDate == "" {
		return
	}
	// The series of a day: dau and sessions of everyone and of every segment value with activity.
	type key struct{ metric, dim, value string }
	values := func(date string) map[key]int64 {
		d := r.Days[date]
		out := map[key]int64{{"dau", "all", "all"}: int64(d.DAU), {"sessions", "all", "all"}: d.Sessions.Count}
		for seg, s := range d.Segments {
			out[key{"dau", seg.Dimension, seg.Value}] = int64(s.DAU)
			out[key{"sessions", seg.Dimension, seg.Value}] = s.Sessions.Count
		}
		return out
	}
	for date := r.FirstDate; date < r.LastDate; date = addDays(date, 1) {
		var refs []map[key]int64
		for k := 1; k <= 8; k++ {
			if ref := addDays(date, -7*k); ref >= r.FirstDate {
				refs = append(refs, values(ref))
			}
		}
		if len(refs) < 4 {
			continue
		}
		today := values(date)
		names := map[key]bool{}
		for k := range today {
			names[k] = true
		}
		for _, ref := range refs {
			for k := range ref {
				names[k] = true
			}
		}
		for k := range names {
			var x []float64
			for _, ref := range refs {
				x = append(x, float64(ref[k]))
			}
			s, _ := anomaly.Of(float64(today[k]), x)
			if s.Expected >= 20 && (s.Z >= 5 || s.Z <= -5) {
				p.Anomalies[date] = append(p.Anomalies[date], Anomaly{k.metric, k.dim, k.value, today[k], s})
			}
		}
	}
}
