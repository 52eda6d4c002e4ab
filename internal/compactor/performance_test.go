package compactor

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/lake"

	"github.com/notestream/notestream/internal/reference"
	"github.com/notestream/notestream/internal/tables"
)

func ptr[T any](v T) *T { return &v }

// percentile is the reference's percentile as gold stores it: null without values.
func percentile(d reference.Durations, pct int) *int64 {
	v, ok := d.Percentile(pct)
	if !ok {
		return nil
	}
	return &v
}

func equalPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// checkPerformance compares gold/app_version_daily, gold/device_performance and gold/anomalies with
// the reference.
func checkPerformance(t *testing.T, dir string, ref *reference.Result) {
	t.Helper()
	versions := readTable[tables.AppVersionDaily](t, dir, tables.GoldAppVersionDaily)
	if len(versions) != len(ref.Days) {
		t.Fatalf("gold has %d app_version_daily partitions, reference %d days", len(versions), len(ref.Days))
	}
	for date := range ref.Days {
		want := ref.AppVersions[date]
		got := versions[date]
		if len(got) != len(want) || !slices.IsSortedFunc(got, func(a, b tables.AppVersionDaily) int { return compareStrings(a.AppVersion, b.AppVersion) }) {
			t.Fatalf("%s: %d app versions (sorted: %v), reference %d", date, len(got), got, len(want))
		}
		for _, g := range got {
			w := want[g.AppVersion]
			if w == nil {
				t.Fatalf("%s: app version %q not in the reference", date, g.AppVersion)
			}
			p95, _ := w.All.Percentile(95)
			if g.Events != w.Events || g.PageViews != int64(len(w.PageViews)) || g.P95DurationMs != p95 ||
				!equalPtr(g.P50PageViewMs, percentile(w.PageViews, 50)) || !equalPtr(g.P95PageViewMs, percentile(w.PageViews, 95)) ||
				!equalPtr(g.P99PageViewMs, percentile(w.PageViews, 99)) {
				t.Errorf("%s %q: got %+v, reference %d events, %d page views", date, g.AppVersion, g, w.Events, len(w.PageViews))
			}
		}
	}

	devices := readTable[tables.DevicePerformance](t, dir, tables.GoldDevicePerformance)
	if len(devices) != len(ref.Months) {
		t.Fatalf("gold has %d device_performance months, reference %d", len(devices), len(ref.Months))
	}
	for month := range ref.Months {
		want := ref.Devices[month]
		got := devices[month]
		if len(want) == 0 {
			if len(got) != 0 {
				t.Errorf("%s: device rows %+v without page views", month, got)
			}
			continue
		}
		if len(got) != len(want)+1 || got[len(got)-1].DeviceType != AllDevices {
			t.Fatalf("%s: device rows %+v, want %d device types and the totals", month, got, len(want))
		}
		var all reference.Durations
		var groups [][]int64
		for _, name := range slices.Sorted(maps.Keys(want)) {
			all = append(all, want[name]...)
			groups = append(groups, want[name])
		}
		for i, name := range append(slices.Sorted(maps.Keys(want)), AllDevices) {
			d := all
			if name != AllDevices {
				d = want[name]
			}
			var sum int64
			for _, v := range d {
				sum += v
			}
			p50, _ := d.Percentile(50)
			p95, _ := d.Percentile(95)
			exp := tables.DevicePerformance{DeviceType: name, PageViews: int64(len(d)), MeanPageViewMs: float64(sum) / float64(len(d)),
				P50PageViewMs: p50, P95PageViewMs: p95}
			g := got[i]
			eta := g.EtaSquared
			g.EtaSquared = nil
			if g != exp {
				t.Errorf("%s device %s: got %+v, want %+v", month, name, g, exp)
			}
			wantEta, ok := twoPassEta(groups)
			switch {
			case name != AllDevices || !ok:
				if eta != nil {
					t.Errorf("%s device %s: η² %v, want null", month, name, *eta)
				}
			case eta == nil || math.Abs(*eta-wantEta) > 1e-9:
				t.Errorf("%s: η² %v, two-pass %v", month, eta, wantEta)
			}
		}
	}

	anomalies := readTable[tables.Anomaly](t, dir, tables.GoldAnomalies)
	if len(anomalies) != len(ref.Days) {
		t.Fatalf("gold has %d anomaly partitions, reference %d days", len(anomalies), len(ref.Days))
	}
	for date := range ref.Days {
		want := map[series]reference.Anomaly{}
		for _, a := range ref.Anomalies[date] {
			want[series{a.Metric, a.Dimension, a.Value}] = a
		}
		got := anomalies[date]
		if len(got) != len(want) {
			t.Errorf("%s: %d anomalies %+v, reference %d %+v", date, len(got), got, len(want), ref.Anomalies[date])
			continue
		}
		for _, g := range got {
			w, ok := want[series{g.Metric, g.Dimension, g.Value}]
			exp := tables.Anomaly{Metric: w.Metric, Dimension: w.Dimension, Value: w.Value, Observed: w.Observed,
				Expected: w.Score.Expected, MAD: w.Score.MAD, Z: w.Score.Z, Direction: w.Score.Direction()}
			if !ok || g != exp {
				t.Errorf("%s: anomaly %+v, want %+v", date, g, exp)
			}
		}
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// twoPassEta is η² the textbook way, in floats; ok is false when the total sum of squares is 0.
func twoPassEta(groups [][]int64) (float64, bool) {
	var n, sum float64
	for _, g := range groups {
		for _, v := range g {
			n, sum = n+1, sum+float64(v)
		}
	}
	mean := sum / n
	var total, between float64
	for _, g := range groups {
		var gs float64
		for _, v := range g {
			gs += float64(v)
			total += (float64(v) - mean) * (float64(v) - mean)
		}
		between += float64(len(g)) * (gs/float64(len(g)) - mean) * (gs/float64(len(g)) - mean)
	}
	return between / total, total > 0
}

// plantedData is 10 weeks of steady daily use by 300 users, with an outage (no events) on day 50
// and a spike (every user three sessions) on day 60; version "9.9.9-slow" has slower page views,
// and iPad users' page views are slower still.
func plantedData() dataset {
	var ds dataset
	start := time.Date(2023, 3, 6, 0, 0, 0, 0, time.UTC).UnixMilli()
	rng := rand.New(rand.NewPCG(16, 16))
	devices := []string{"iPad", "iPhone", "Android"}
	for u := range 300 {
		ds.users = append(ds.users, event.User{UserID: fmt.Sprintf("u%d", u), JoinDate: "2022-01-01", Country: "US",
			DeviceType: devices[u%3], SubscriptionType: "free"})
	}
	for day := range 70 {
		if day == 50 {
			continue
		}
		for u := range 300 {
			if day != 60 && rng.IntN(10) == 0 {
				continue // not every user every day
			}
			sessions := 1
			if day == 60 {
				sessions = 3
			}
			for s := range sessions {
				t := start + int64(day)*86400_000 + int64(u)*60_000 + int64(s)*4*3600_000
				version := []string{"5.7.3", "5.8.0"}[u%2]
				if u%10 == 0 {
					version = "9.9.9-slow"
				}
				for e := range 3 {
					d := 1000 + rng.Int64N(4000)
					if version == "9.9.9-slow" {
						d *= 3
					}
					if u%3 == 0 {
						d *= 2
					}
					action := "page_view"
					if e == 2 {
						action = "edit"
					}
					ds.rows = append(ds.rows, event.Interaction{UserID: fmt.Sprintf("u%d", u), Time: t + int64(e)*1000,
						Action: action, PageID: fmt.Sprint("p", e), DurationMs: d, AppVersion: version})
				}
			}
		}
	}
	return ds
}

func TestPerformanceFindsPlanted(t *testing.T) {
	ds := plantedData()
	src := newMemSource()
	ds.loadUsers(src)
	// Two runs: the second brings the last three weeks, so anomalies of earlier days are rescored.
	cut := len(ds.rows) * 7 / 10
	ds.load(src, 0, cut)
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	first := run(t, store, src)
	ds.load(src, cut, len(ds.rows))
	second := run(t, store, src)
	ref := reference.ComputeRows(ds.rows, ds.users, time.UTC)
	checkGold(t, dir, ref, expectedLate(src, 5*time.Minute, time.UTC))

	outage := time.Date(2023, 3, 6+50, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	spike := time.Date(2023, 3, 6+60, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	anomalies := readTable[tables.Anomaly](t, dir, tables.GoldAnomalies)
	found := map[string]bool{}
	total := 0
	for date, rows := range anomalies {
		for _, a := range rows {
			total++
			if a.Dimension == "all" {
				found[date+" "+a.Metric+" "+a.Direction] = true
			}
		}
	}
	// Everyone's series: the outage drops both, the spike triples sessions (DAU rises only by the
	// tenth of users who skip a normal day: within the noise floor √M), and nothing else.
	want := map[string]bool{outage + " dau drop": true, outage + " sessions drop": true, spike + " sessions spike": true}
	if !maps.Equal(found, want) {
		t.Errorf("anomalies of everyone %v, want %v", found, want)
	}
	if first.NewAnomalies+second.NewAnomalies != total || total == 0 {
		t.Errorf("runs reported %d + %d new anomalies, the lake has %d", first.NewAnomalies, second.NewAnomalies, total)
	}
	// A third run over the same lake finds nothing new.
	if _, err := newTestCompactor(t, store, nil).Backfill(context.Background(), -1<<31, 1<<31-1); err != nil {
		t.Fatal(err)
	}
	c := newTestCompactor(t, store, nil)
	sum, err := c.Backfill(context.Background(), -1<<31, 1<<31-1)
	if err != nil || sum.NewAnomalies != 0 {
		t.Fatalf("backfill over the same lake: %d new anomalies, %v", sum.NewAnomalies, err)
	}

	// The slow version and the slow device stand out.
	day := time.Date(2023, 3, 6+10, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	p95 := map[string]int64{}
	for _, v := range readTable[tables.AppVersionDaily](t, dir, tables.GoldAppVersionDaily)[day] {
		p95[v.AppVersion] = *v.P95PageViewMs
	}
	if p95["9.9.9-slow"] < 2*p95["5.7.3"] || p95["9.9.9-slow"] < 2*p95["5.8.0"] {
		t.Errorf("%s p95 by version %v: the slow version is not slower", day, p95)
	}
	devs := readTable[tables.DevicePerformance](t, dir, tables.GoldDevicePerformance)["2023-03"]
	if len(devs) != 4 || devs[1].DeviceType != "iPad" || devs[1].P50PageViewMs < devs[0].P50PageViewMs*3/2 ||
		devs[3].EtaSquared == nil || *devs[3].EtaSquared < 0.1 {
		t.Errorf("2023-03 devices %+v: iPad is not the slow one or η² is small", devs)
	}
}
