// Package report renders the gold tables of the lake as a self-contained HTML page with inline SVG charts.
package report

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strconv"
)

// Render writes g as one HTML page: no scripts, no fonts or styles from the network. source names the lake
// in the page's header.
func Render(w io.Writer, g *Gold, source string) error {
	if err := page.Execute(w, build(g, source)); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	return nil
}

type view struct {
	Source     string
	From, To   string
	Tiles      []tile
	Charts     []chart
	Segments   []chart
	Months     []Month
	Quality    qualityTotals
	QualityBy  template.HTML
	Engagement template.HTML
	Empty      bool
	FormatInt  func(int64) string
	FormatNum  func(float64) string
	FormatPct  func(int64, int64) string
	LatestDate string
	Perf       perfView // performance.go
}

type tile struct{ Label, Value, Note string }

type chart struct {
	Title string
	Note  string
	SVG   template.HTML
}

type qualityTotals struct {
	Quality
	RuleInvalid int64
}

func build(g *Gold, source string) view {
	v := view{
		Source: source, Months: g.Months, Empty: len(g.Days) == 0,
		FormatInt: formatInt, FormatNum: formatNumber, FormatPct: percent,
	}
	if v.Empty {
		return v
	}
	days := g.Days
	v.From, v.To = days[0].Date, days[len(days)-1].Date
	dates := make([]string, len(days))
	col := func(f func(Day) float64) []float64 {
		out := make([]float64, len(days))
		for i, d := range days {
			out[i] = f(d)
		}
		return out
	}
	for i, d := range days {
		dates[i] = d.Date
	}

	last := days[len(days)-1]
	var sessions, durationS, actions float64
	for _, d := range days {
		s := float64(d.Sessions)
		sessions += s
		durationS += d.AvgSessionDurationS * s
		actions += d.AvgActionsPerSession * s
	}
	avg := func(sum float64) float64 {
		if sessions == 0 {
			return 0
		}
		return sum / sessions
	}
	v.LatestDate = last.Date
	v.Tiles = []tile{
		{"DAU", formatInt(last.DAU), last.Date},
		{"WAU", formatInt(last.WAU), "7 days to " + last.Date},
		{"MAU", formatInt(last.MAU), "30 days to " + last.Date},
		{"Stickiness", strconv.FormatFloat(last.Stickiness, 'f', 3, 64), "DAU / MAU on " + last.Date},
		{"Sessions", formatInt(int64(sessions)), fmt.Sprintf("%d days", len(days))},
		{"Avg session", formatNumber(round2(avg(durationS))) + " s", "weighted by sessions"},
		{"Actions / session", formatNumber(round2(avg(actions))), "weighted by sessions"},
	}

	v.Charts = []chart{
		{"Active users", "Distinct users with a valid event on the day (DAU), in the 7 days (WAU) and 30 days (MAU) ending that day.",
			template.HTML(lineChart("Active users per day", "", dates, []series{
				{"DAU", col(func(d Day) float64 { return float64(d.DAU) })},
				{"WAU", col(func(d Day) float64 { return float64(d.WAU) })},
				{"MAU", col(func(d Day) float64 { return float64(d.MAU) })},
			}))},
		{"Sessions per day", "Sessions by their start day; a session ends after 30 minutes without events or at midnight.",
			template.HTML(lineChart("Sessions per day", "", dates, []series{
				{"sessions", col(func(d Day) float64 { return float64(d.Sessions) })},
			}))},
		{"Session duration", "Average, median and 95th percentile (nearest rank) of end − start, in seconds.",
			template.HTML(lineChart("Session duration per day", " s", dates, []series{
				{"average", col(func(d Day) float64 { return d.AvgSessionDurationS })},
				{"p50", col(func(d Day) float64 { return d.P50SessionDurationS })},
				{"p95", col(func(d Day) float64 { return d.P95SessionDurationS })},
			}))},
		{"Actions per session", "Average number of valid events in a session.",
			template.HTML(lineChart("Actions per session per day", "", dates, []series{
				{"actions per session", col(func(d Day) float64 { return d.AvgActionsPerSession })},
			}))},
	}
	v.Segments = segmentCharts(g.Segments)
	v.Quality, v.QualityBy = quality(g.Quality)
	v.Perf = buildPerformance(&g.Perf, dates)
	v.Engagement = engagementSection(&g.Engagement, g.Months)
	return v
}

// maxBars caps the bars of one dimension; the smallest values share the last bar.
const maxBars = 12

// segmentCharts draws, per dimension, each value's share of user-days (the sum of its daily DAU) and
// its number of sessions.
func segmentCharts(rows []SegmentDay) []chart {
	type totals struct{ userDays, sessions int64 }
	byDim := map[string]map[string]*totals{}
	for _, r := range rows {
		if byDim[r.Dimension] == nil {
			byDim[r.Dimension] = map[string]*totals{}
		}
		t := byDim[r.Dimension][r.Value]
		if t == nil {
			t = &totals{}
			byDim[r.Dimension][r.Value] = t
		}
		t.userDays += r.DAU
		t.sessions += r.Sessions
	}
	var out []chart
	for _, dim := range slices.Sorted(maps.Keys(byDim)) {
		values := byDim[dim]
		var userDays, sessions int64
		for _, t := range values {
			userDays += t.userDays
			sessions += t.sessions
		}
		names := slices.SortedFunc(maps.Keys(values), func(a, b string) int {
			return cmp.Or(cmp.Compare(values[b].userDays, values[a].userDays), cmp.Compare(a, b))
		})
		if len(names) > maxBars {
			rest := &totals{}
			for _, name := range names[maxBars-1:] {
				rest.userDays += values[name].userDays
				rest.sessions += values[name].sessions
			}
			other := fmt.Sprintf("%d others", len(names)-maxBars+1)
			values[other] = rest
			names = append(names[:maxBars-1], other)
		}
		bars := make([]bar, 0, len(names))
		for _, name := range names {
			t := values[name]
			share := 0.0
			if userDays > 0 {
				share = float64(t.userDays) / float64(userDays)
			}
			bars = append(bars, bar{Label: name, Share: share,
				Text: percent(t.userDays, userDays) + " of user-days, " + percent(t.sessions, sessions) + " of sessions"})
		}
		out = append(out, chart{Title: dim, SVG: template.HTML(barChart("Share by "+dim, bars))})
	}
	return out
}

func quality(rows []Quality) (qualityTotals, template.HTML) {
	var t qualityTotals
	dates := make([]string, len(rows))
	ss := []series{{Name: "unknown_action"}, {Name: "duration_out_of_range"}, {Name: "duplicate"}, {Name: "late"}}
	for i, q := range rows {
		dates[i] = q.Date
		t.BronzeRows += q.BronzeRows
		t.ValidEvents += q.ValidEvents
		t.UnknownAction += q.UnknownAction
		t.DurationOutOfRange += q.DurationOutOfRange
		t.Duplicate += q.Duplicate
		t.Late += q.Late
		for j, n := range []int64{q.UnknownAction, q.DurationOutOfRange, q.Duplicate, q.Late} {
			ss[j].Values = append(ss[j].Values, float64(n))
		}
	}
	t.RuleInvalid = t.UnknownAction + t.DurationOutOfRange + t.Duplicate
	if len(rows) == 0 {
		return t, ""
	}
	return t, template.HTML(lineChart("Rule-invalid and late events per day", "", dates, ss))
}

func percent(n, of int64) string {
	if of == 0 {
		return "0%"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 1, 64) + "%"
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

var page = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>notestream report{{if not .Empty}} {{.From}} – {{.To}}{{end}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0 auto; max-width: 1000px; padding: 16px 20px 40px; }
h1 { font-size: 22px; margin: 8px 0 2px; }
h2 { font-size: 17px; margin: 28px 0 4px; border-bottom: 1px solid #ddd; padding-bottom: 3px; }
h3 { font-size: 14px; margin: 14px 0 2px; }
p.note, .source { color: #666; margin: 2px 0 6px; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.tile { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; min-width: 110px; }
.tile .v { font-size: 20px; font-weight: 600; }
.tile .l { color: #444; } .tile .n { color: #888; font-size: 12px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: #eee; } svg .axis, svg .tick { stroke: #999; }
svg text { font-size: 11px; fill: #555; }
svg .ylabel, svg .blabel { text-anchor: end; } svg .xlabel { text-anchor: middle; }
svg .legend { font-size: 12px; fill: #222; } svg .btext { fill: #333; }
table { border-collapse: collapse; margin: 8px 0; }
svg .hcell text, svg text.hcell { font-size: 10px; text-anchor: middle; } svg .hcell.incomplete rect { stroke: #bbb; stroke-dasharray: 2 2; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
</style>
</head>
<body>
<h1>notestream report</h1>
<div class="source">From the gold tables of <code>{{.Source}}</code>{{if not .Empty}}, {{.From}} to {{.To}}{{end}}.</div>
{{if .Empty}}<p>The lake has no <code>gold/daily_metrics</code> rows yet: run <code>compactor run</code> first.</p>{{else}}
<div class="tiles">{{range .Tiles}}<div class="tile"><div class="l">{{.Label}}</div><div class="v">{{.Value}}</div><div class="n">{{.Note}}</div></div>{{end}}</div>
{{range .Charts}}<h2>{{.Title}}</h2><p class="note">{{.Note}}</p>{{.SVG}}
{{end}}
<h2>Segment shares</h2>
<p class="note">A user-day is one user active on one day; users without metadata fall in <code>unknown</code>.</p>
{{range .Segments}}<h3>{{.Title}}</h3>{{.SVG}}
{{end}}
{{if .Months}}<h2>Calendar months</h2>
<table><tr><th>month</th><th>MAU</th><th>sessions</th><th>avg session (s)</th><th>actions / session</th><th>sessions / user</th></tr>
{{range .Months}}<tr><td>{{.Month}}</td><td>{{call $.FormatInt .MAU}}</td><td>{{call $.FormatInt .Sessions}}</td><td>{{call $.FormatNum .AvgSessionDurationS}}</td><td>{{call $.FormatNum .AvgActionsPerSession}}</td><td>{{call $.FormatNum .SessionsPerUser}}</td></tr>
{{end}}</table>{{end}}
{{.Engagement}}
<h2>Data quality</h2>
<p class="note">Bronze rows are the readable rows; rule-invalid ones are kept in bronze and left out of every metric. Late events count for active users and lake sessions, not real-time sessions.</p>
<table><tr><th>bronze rows</th><th>valid events</th><th>unknown_action</th><th>duration_out_of_range</th><th>duplicate</th><th>late</th></tr>
<tr><td>{{call .FormatInt .Quality.BronzeRows}}</td><td>{{call .FormatInt .Quality.ValidEvents}} ({{call .FormatPct .Quality.ValidEvents .Quality.BronzeRows}})</td><td>{{call .FormatInt .Quality.UnknownAction}}</td><td>{{call .FormatInt .Quality.DurationOutOfRange}}</td><td>{{call .FormatInt .Quality.Duplicate}}</td><td>{{call .FormatInt .Quality.Late}}</td></tr></table>
{{.QualityBy}}
{{template "performance" .Perf}}
{{end}}
</body>
</html>
`))

// WriteHeadline writes the page's headline numbers as plain text lines, for terminals.
func WriteHeadline(w io.Writer, g *Gold) error {
	v := build(g, "")
	if v.Empty {
		_, err := fmt.Fprintln(w, "gold: no daily metrics yet")
		return err
	}
	last := g.Days[len(g.Days)-1]
	_, err := fmt.Fprintf(w, "gold %s … %s\n"+
		"  %s: DAU %s, WAU %s, MAU %s, stickiness %.3f\n"+
		"  %s: %s sessions, avg session %s s, %s actions/session\n"+
		"  all days: %s sessions, avg session %s, %s actions/session\n",
		v.From, v.To,
		last.Date, formatInt(last.DAU), formatInt(last.WAU), formatInt(last.MAU), last.Stickiness,
		last.Date, formatInt(last.Sessions), formatNumber(last.AvgSessionDurationS), formatNumber(last.AvgActionsPerSession),
		v.Tiles[4].Value, v.Tiles[5].Value, v.Tiles[6].Value)
	if err != nil {
		return err
	}
	if i := slices.IndexFunc(g.Months, func(m Month) bool { return m.Month == last.Date[:7] }); i >= 0 {
		_, err = fmt.Fprintf(w, "  calendar month %s: MAU %s\n", g.Months[i].Month, formatInt(g.Months[i].MAU))
	}
	return err
}
