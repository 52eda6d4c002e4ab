package report

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/notestream/notestream/internal/tables"
)

// AppVersionDay is one row of gold/app_version_daily with its date partition.
type AppVersionDay struct {
	Date string `parquet:"-"`
	tables.AppVersionDaily
}

// DeviceMonth is one row of gold/device_performance with its month partition.
type DeviceMonth struct {
	Month string `parquet:"-"`
	tables.DevicePerformance
}

// AnomalyDay is one row of gold/anomalies with its date partition.
type AnomalyDay struct {
	Date string `parquet:"-"`
	tables.Anomaly
}

// Performance holds section 9's gold tables.
type Performance struct {
	AppVersions []AppVersionDay
	Devices     []DeviceMonth
	Anomalies   []AnomalyDay
}

func (p *Performance) load(ctx context.Context, lake Lake) error {
	var err error
	if p.AppVersions, err = readTable(ctx, lake, tables.GoldAppVersionDaily, "date", func(r *AppVersionDay, v string) { r.Date = v }); err != nil {
		return err
	}
	if p.Devices, err = readTable(ctx, lake, tables.GoldDevicePerformance, "month", func(r *DeviceMonth, v string) { r.Month = v }); err != nil {
		return err
	}
	if p.Anomalies, err = readTable(ctx, lake, tables.GoldAnomalies, "date", func(r *AnomalyDay, v string) { r.Date = v }); err != nil {
		return err
	}
	slices.SortStableFunc(p.AppVersions, func(a, b AppVersionDay) int {
		return cmp.Or(cmp.Compare(a.Date, b.Date), cmp.Compare(a.AppVersion, b.AppVersion))
	})
	slices.SortStableFunc(p.Devices, func(a, b DeviceMonth) int { return cmp.Compare(a.Month, b.Month) }) // keeps each month's order, all last
	slices.SortStableFunc(p.Anomalies, func(a, b AnomalyDay) int {
		return cmp.Or(cmp.Compare(a.Date, b.Date), cmp.Compare(a.Metric, b.Metric), cmp.Compare(a.Dimension, b.Dimension), cmp.Compare(a.Value, b.Value))
	})
	return nil
}

func (p *Performance) through(date string) {
	p.AppVersions = slices.DeleteFunc(p.AppVersions, func(r AppVersionDay) bool { return r.Date > date })
	p.Devices = slices.DeleteFunc(p.Devices, func(r DeviceMonth) bool { return r.Month > date[:min(7, len(date))] })
	p.Anomalies = slices.DeleteFunc(p.Anomalies, func(r AnomalyDay) bool { return r.Date > date })
}

// topVersions is how many app versions the percentile chart draws: the ones with the most events.
const topVersions = 6

// maxAnomalyRows caps the anomalies table; the newest are shown.
const maxAnomalyRows = 100

type perfView struct {
	Versions    template.HTML
	VersionNote string
	DeviceMonth string
	Devices     template.HTML
	Eta         string
	Anomalies   []AnomalyDay
	Hidden      int // anomalies older than the table shows
}

// buildPerformance draws section 9's tables; dates are the report's days.
func buildPerformance(p *Performance, dates []string) perfView {
	var v perfView
	if len(p.AppVersions) > 0 {
		events := map[string]int64{}
		for _, r := range p.AppVersions {
			events[r.AppVersion] += r.Events
		}
		names := slices.SortedFunc(maps.Keys(events), func(a, b string) int { return cmp.Or(cmp.Compare(events[b], events[a]), cmp.Compare(a, b)) })
		names = names[:min(len(names), topVersions)]
		index := map[string]int{}
		for i, d := range dates {
			index[d] = i
		}
		ss := make([]series, len(names))
		for i, n := range names {
			ss[i] = series{Name: n, Values: make([]float64, len(dates))}
			for j := range ss[i].Values {
				ss[i].Values[j] = math.NaN()
			}
		}
		for _, r := range p.AppVersions {
			i, ok := index[r.Date]
			k := slices.Index(names, r.AppVersion)
			if ok && k >= 0 && r.P95PageViewMs != nil {
				ss[k].Values[i] = float64(*r.P95PageViewMs) / 1000
			}
		}
		v.Versions = template.HTML(lineChart("95th percentile of page-view duration per app version", " s", dates, ss))
		v.VersionNote = fmt.Sprintf("The %d app versions with the most events, each on the days it was in use: the nearest-rank 95th percentile of page-view duration_ms, in seconds.", len(names))
	}
	if n := len(p.Devices); n > 0 {
		month := p.Devices[n-1].Month
		var rows []DeviceMonth
		var all *DeviceMonth
		for i := range p.Devices {
			if r := &p.Devices[i]; r.Month == month {
				if r.DeviceType == "all" {
					all = r
				} else {
					rows = append(rows, *r)
				}
			}
		}
		slices.SortFunc(rows, func(a, b DeviceMonth) int {
			return cmp.Or(cmp.Compare(b.P95PageViewMs, a.P95PageViewMs), cmp.Compare(a.DeviceType, b.DeviceType))
		})
		var most int64
		for _, r := range rows {
			most = max(most, r.P95PageViewMs)
		}
		bars := make([]bar, len(rows))
		for i, r := range rows {
			bars[i] = bar{Label: r.DeviceType, Share: float64(r.P95PageViewMs) / float64(max(most, 1)),
				Text: fmt.Sprintf("p50 %s s, p95 %s s, %s page views", seconds(r.P50PageViewMs), seconds(r.P95PageViewMs), formatInt(r.PageViews))}
		}
		v.DeviceMonth = month
		v.Devices = template.HTML(barChart("Page-view duration per device type, "+month, bars))
		v.Eta = etaWords(all)
	}
	v.Anomalies = p.Anomalies
	if n := len(v.Anomalies); n > maxAnomalyRows {
		v.Hidden = n - maxAnomalyRows
		v.Anomalies = v.Anomalies[n-maxAnomalyRows:]
	}
	return v
}

func seconds(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) }

// etaWords says what η² means, with Cohen's bounds for small (0.01), medium (0.06) and large (0.14)
// effects.
func etaWords(all *DeviceMonth) string {
	if all == nil || all.EtaSquared == nil {
		return "Every page view took the same time this month, so there is no variance for device type to explain."
	}
	eta := *all.EtaSquared
	strength := "practically no"
	switch {
	case eta >= 0.14:
		strength = "a strong"
	case eta >= 0.06:
		strength = "a moderate"
	case eta >= 0.01:
		strength = "a weak"
	}
	return fmt.Sprintf("Device type explains %.1f%% of the variation in page-view duration (η² = %.3f): %s link between the device and how long a page view takes. The other %.1f%% comes from differences within each device type.",
		100*eta, eta, strength, 100*(1-eta))
}

var _ = template.Must(page.New("performance").Parse(`{{if or .Versions .Devices .Anomalies}}
<h2>Performance</h2>
{{if .Versions}}<h3>Page views by app version</h3><p class="note">{{.VersionNote}}</p>{{.Versions}}{{end}}
{{if .Devices}}<h3>Page views by device type, {{.DeviceMonth}}</h3>
<p class="note">Bars are the 95th percentile; the text gives the median too.</p>{{.Devices}}
<p>{{.Eta}}</p>{{end}}
<h3>Anomalies</h3>
<p class="note">Days whose DAU or sessions, for everyone or a segment, are 5 robust standard deviations or more from the same weekday of the 8 weeks before (median expected at least 20).</p>
{{if .Anomalies}}{{if .Hidden}}<p class="note">The newest {{len .Anomalies}}; {{.Hidden}} older ones are in <code>gold/anomalies</code>.</p>{{end}}
<table><tr><th>date</th><th>metric</th><th>segment</th><th>observed</th><th>expected</th><th>z</th><th>direction</th></tr>
{{range .Anomalies}}<tr><td>{{.Date}}</td><td>{{.Metric}}</td><td>{{if eq .Dimension "all"}}everyone{{else}}{{.Dimension}} = {{.Value}}{{end}}</td><td>{{.Observed}}</td><td>{{printf "%.1f" .Expected}}</td><td>{{printf "%+.1f" .Z}}</td><td>{{.Direction}}</td></tr>
{{end}}</table>{{else}}<p>None found.</p>{{end}}
{{end}}`))
