package report

import (
	"cmp"
	"context"
	"fmt"
	"html"
	"html/template"
	"slices"
	"strconv"
	"strings"

	"github.com/notestream/notestream/internal/tables"
)

// PowerUserRow is one row of gold/power_users with its month partition.
type PowerUserRow struct {
	Month string `parquet:"-"`
	tables.PowerUser
}

// CohortRow is one row of gold/cohort_retention with its cohort_week partition.
type CohortRow struct {
	CohortWeek string `parquet:"-"`
	tables.CohortRetention
}

// FrequencyRow is one row of gold/session_frequency with its month partition.
type FrequencyRow struct {
	Month string `parquet:"-"`
	tables.SessionFrequency
}

// Engagement holds the engagement tables (SPEC section 8); a lake without them reads as empty.
type Engagement struct {
	PowerUsers []PowerUserRow // by month, rank
	Cohorts    []CohortRow    // by cohort week, basis, week offset
	Frequency  []FrequencyRow // by month, in bucket order
}

func (e *Engagement) load(ctx context.Context, lake Lake) error {
	var err error
	if e.PowerUsers, err = readTable(ctx, lake, tables.GoldPowerUsers, "month", func(r *PowerUserRow, p string) { r.Month = p }); err != nil {
		return err
	}
	if e.Cohorts, err = readTable(ctx, lake, tables.GoldCohortRetention, "cohort_week", func(r *CohortRow, p string) { r.CohortWeek = p }); err != nil {
		return err
	}
	if e.Frequency, err = readTable(ctx, lake, tables.GoldSessionFrequency, "month", func(r *FrequencyRow, p string) { r.Month = p }); err != nil {
		return err
	}
	slices.SortStableFunc(e.PowerUsers, func(a, b PowerUserRow) int { return cmp.Or(cmp.Compare(a.Month, b.Month), cmp.Compare(a.Rank, b.Rank)) })
	slices.SortStableFunc(e.Cohorts, func(a, b CohortRow) int {
		return cmp.Or(cmp.Compare(a.CohortWeek, b.CohortWeek), cmp.Compare(a.Basis, b.Basis), cmp.Compare(a.WeekOffset, b.WeekOffset))
	})
	slices.SortStableFunc(e.Frequency, func(a, b FrequencyRow) int { return cmp.Compare(a.Month, b.Month) }) // rows keep bucket order
	return nil
}

// through drops the months after date's month and the cohorts of weeks starting after date.
func (e *Engagement) through(date string) {
	month := date[:min(7, len(date))]
	e.PowerUsers = slices.DeleteFunc(e.PowerUsers, func(r PowerUserRow) bool { return r.Month > month })
	e.Frequency = slices.DeleteFunc(e.Frequency, func(r FrequencyRow) bool { return r.Month > month })
	e.Cohorts = slices.DeleteFunc(e.Cohorts, func(r CohortRow) bool { return r.CohortWeek > date })
}

// heatCohorts is how many of the latest cohorts a heat map draws: six months of weeks.
const heatCohorts = 26

// engagementSection renders the power users, the cohort heat maps and the session frequency; empty
// when the lake has none of these tables.
func engagementSection(e *Engagement, months []Month) template.HTML {
	var b strings.Builder
	if len(e.PowerUsers) > 0 {
		powerUsersHTML(&b, e.PowerUsers, months)
	}
	if len(e.Cohorts) > 0 {
		b.WriteString(`<h2>Weekly cohort retention</h2><p class="note">Rows are weekly cohorts (weeks start on Monday in the lake's time zone), ` +
			`columns weeks since the cohort's week; a cell is the share of the cohort with a valid event in that week. ` +
			`<code>first_seen</code>: the week of a user's first event; <code>join_date</code>: the week of the metadata's join date ` +
			`(a cohort counts its users whether or not they were ever active). Dashed cells are weeks the data covers only in part.</p>`)
		for _, basis := range []string{"first_seen", "join_date"} {
			rows := slices.DeleteFunc(slices.Clone(e.Cohorts), func(r CohortRow) bool { return r.Basis != basis })
			if len(rows) > 0 {
				fmt.Fprintf(&b, `<h3>%s</h3>%s`, html.EscapeString(basis), heatMap(basis, rows))
			}
		}
	}
	if len(e.Frequency) > 0 {
		frequencyHTML(&b, e.Frequency)
	}
	return template.HTML(b.String())
}

func share(s *float64) string {
	if s == nil {
		return "–"
	}
	return strconv.FormatFloat(100**s, 'f', 1, 64) + "%"
}

func powerUsersHTML(b *strings.Builder, rows []PowerUserRow, months []Month) {
	mau := map[string]int64{}
	for _, m := range months {
		mau[m.Month] = m.MAU
	}
	type top struct {
		users int
		share float64
		null  bool
	}
	byMonth := map[string]*top{}
	var order []string
	for _, r := range rows {
		t := byMonth[r.Month]
		if t == nil {
			t = &top{}
			byMonth[r.Month] = t
			order = append(order, r.Month)
		}
		t.users++
		if r.ShareOfEngagedMs == nil {
			t.null = true
		} else {
			t.share += *r.ShareOfEngagedMs
		}
	}
	last := order[len(order)-1]
	lt := byMonth[last]
	b.WriteString(`<h2>Power users</h2>`)
	fmt.Fprintf(b, `<p class="note">Users ranked by engaged time (the sum of <code>duration_ms</code> of their valid events; events over 2 hours are rule-invalid and never count), `+
		`ties by user id. In %s the top %s of %s active users hold <b>%s</b> of all engaged time. `+
		`Events and active days beside the rank show whether a rank rests on a few long events.</p>`,
		html.EscapeString(last), formatInt(int64(lt.users)), formatInt(mau[last]), html.EscapeString(topShare(lt.share, lt.null)))
	b.WriteString(`<table><tr><th>rank</th><th>user</th><th>engaged (h)</th><th>events</th><th>sessions</th><th>active days</th><th>share of time</th></tr>`)
	n := 0
	for _, r := range rows {
		if r.Month != last || n == 10 {
			continue
		}
		n++
		fmt.Fprintf(b, `<tr><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td></tr>`,
			r.Rank, html.EscapeString(r.UserID), formatNumber(round2(float64(r.EngagedMs)/3.6e6)), formatInt(r.Events),
			formatInt(r.Sessions), r.ActiveDays, share(r.ShareOfEngagedMs))
	}
	b.WriteString(`</table>`)
	bars := make([]bar, 0, len(order))
	for _, m := range order {
		t := byMonth[m]
		bars = append(bars, bar{Label: m, Share: t.share, Text: topShare(t.share, t.null) + " of engaged time, " + formatInt(int64(t.users)) + " users"})
	}
	fmt.Fprintf(b, `<h3>The top's share of engaged time, by month</h3>%s`, barChart("Power users' share of engaged time by month", bars))
}

func topShare(s float64, null bool) string {
	if null {
		return "–"
	}
	return strconv.FormatFloat(100*s, 'f', 1, 64) + "%"
}

// heatMap draws the latest heatCohorts cohorts of one basis (rows sorted by week, offset) as a grid of
// <g class="hcell"> cells coloured by retention, each with its number and a hover title.
func heatMap(basis string, rows []CohortRow) string {
	var weeks []string
	for _, r := range rows {
		if len(weeks) == 0 || weeks[len(weeks)-1] != r.CohortWeek {
			weeks = append(weeks, r.CohortWeek)
		}
	}
	weeks = weeks[max(0, len(weeks)-heatCohorts):]
	first := weeks[0]
	cols := int64(0)
	top := 0.0 // the colour scale's top: the highest retention after week 0, which would be 100% for first_seen
	for _, r := range rows {
		if r.CohortWeek < first {
			continue
		}
		cols = max(cols, r.WeekOffset+1)
		if r.WeekOffset > 0 {
			top = max(top, r.Retention)
		}
	}
	cols = min(cols, heatCohorts)
	if top == 0 {
		top = 1
	}
	const labelW, cellH, headH = 150, 18, 18
	cellW := float64(chartW-labelW-8) / float64(cols)
	h := headH + cellH*len(weeks) + 22
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart heat" viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, h, html.EscapeString("Weekly retention by "+basis+" cohort"))
	for k := range cols {
		fmt.Fprintf(&b, `<text class="hcell" x="%.1f" y="%d">%d</text>`, labelW+(float64(k)+0.5)*cellW, headH-5, k)
	}
	row := map[string]int{}
	for i, w := range weeks {
		row[w] = i
	}
	size := map[string]int64{}
	for _, r := range rows {
		i, ok := row[r.CohortWeek]
		if !ok || r.WeekOffset >= cols {
			continue
		}
		size[r.CohortWeek] = r.CohortSize
		x := labelW + float64(r.WeekOffset)*cellW
		y := headH + i*cellH
		v := min(r.Retention/top, 1)
		class := "hcell"
		if !r.Complete {
			class += " incomplete"
		}
		ink := "#222"
		if v > 0.55 {
			ink = "#fff"
		}
		fmt.Fprintf(&b, `<g class="%s" data-retention="%g"><rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+
			`<text x="%.1f" y="%d" style="fill:%s">%s</text><title>%s</title></g>`,
			class, r.Retention, x+0.5, y+1, cellW-1, cellH-2, heatColour(v),
			x+cellW/2, y+cellH-5, ink, strconv.FormatFloat(100*r.Retention, 'f', 0, 64),
			html.EscapeString(fmt.Sprintf("cohort %s, week %d: %s of %s users (%.1f%%)%s", r.CohortWeek, r.WeekOffset,
				formatInt(r.RetainedUsers), formatInt(r.CohortSize), 100*r.Retention, map[bool]string{true: "", false: ", week not wholly in the data"}[r.Complete])))
	}
	for i, w := range weeks {
		fmt.Fprintf(&b, `<text class="blabel" x="%d" y="%d">%s (%s)</text>`, labelW-8, headH+i*cellH+cellH-5, html.EscapeString(w), formatInt(size[w]))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">week offset →; colour: 0 … %s retained (week 0 and above saturate)</text>`,
		labelW, h-6, strconv.FormatFloat(100*top, 'f', 0, 64)+"%")
	b.WriteString(`</svg>`)
	return b.String()
}

// heatColour maps v in [0, 1] from a pale to a dark blue.
func heatColour(v float64) string {
	lo, hi := [3]float64{0xf7, 0xfb, 0xff}, [3]float64{0x08, 0x30, 0x6b}
	var c [3]int
	for i := range c {
		c[i] = int(lo[i] + (hi[i]-lo[i])*v + 0.5)
	}
	return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2])
}

func frequencyHTML(b *strings.Builder, rows []FrequencyRow) {
	last := rows[len(rows)-1].Month
	var bars []bar
	for _, r := range rows {
		if r.Month != last {
			continue
		}
		s := 0.0
		if r.Share != nil {
			s = *r.Share
		}
		label := r.Bucket + " sessions"
		if r.Bucket == "1" {
			label = "1 session"
		}
		bars = append(bars, bar{Label: label, Share: s, Text: share(r.Share) + " of active users (" + formatInt(r.Users) + ")"})
	}
	fmt.Fprintf(b, `<h2>Session frequency</h2><p class="note">Active users of the month by the number of sessions they started in it; `+
		`%s here, every month in the table below.</p>%s`, html.EscapeString(last), barChart("Session frequency in "+last, bars))
	b.WriteString(`<table><tr><th>month</th>`)
	for _, r := range rows {
		if r.Month == last {
			fmt.Fprintf(b, `<th>%s</th>`, html.EscapeString(r.Bucket))
		}
	}
	b.WriteString(`</tr>`)
	for i := 0; i < len(rows); {
		m := rows[i].Month
		fmt.Fprintf(b, `<tr><td>%s</td>`, html.EscapeString(m))
		for ; i < len(rows) && rows[i].Month == m; i++ {
			fmt.Fprintf(b, `<td>%s</td>`, share(rows[i].Share))
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</table>`)
}
