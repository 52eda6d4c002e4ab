package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/tables"
)

// writeEngagement adds the engagement tables to a test lake: 30 weekly cohorts from 2022-09-05 (the
// join_date basis only every other week), three months of power users and session frequency.
func writeEngagement(t *testing.T, dir string) {
	t.Helper()
	monday := time.Date(2022, 9, 5, 0, 0, 0, 0, time.UTC)
	for w := range 30 {
		var rows []tables.CohortRetention
		for _, basis := range []string{"first_seen", "join_date"} {
			if basis == "join_date" && w%2 == 1 {
				continue
			}
			for k := range 30 - w {
				size, kept := int64(100+w), int64(100+w)
				if k > 0 {
					kept = int64(40 - k)
				}
				rows = append(rows, tables.CohortRetention{Basis: basis, WeekOffset: int64(k), CohortSize: size, RetainedUsers: kept,
					Retention: float64(kept) / float64(size), Complete: k < 29-w})
			}
		}
		write(t, dir, "gold/cohort_retention/cohort_week="+monday.AddDate(0, 0, 7*w).Format(time.DateOnly), rows)
	}
	f := func(v float64) *float64 { return &v }
	for i, m := range []string{"2023-01", "2023-02", "2023-03"} {
		write(t, dir, "gold/power_users/month="+m, []tables.PowerUser{
			{Rank: 1, UserID: "u<9>", EngagedMs: 36_000_000, Events: 300, Sessions: 40, ActiveDays: 20, ShareOfEngagedMs: f(0.05 + 0.01*float64(i))},
			{Rank: 2, UserID: "u2", EngagedMs: 7_200_000, Events: 1, Sessions: 1, ActiveDays: 1, ShareOfEngagedMs: f(0.01)},
		})
		var freq []tables.SessionFrequency
		for j, b := range []string{"1", "2", "3-5", "6-10", "11-20", "21+"} {
			freq = append(freq, tables.SessionFrequency{Bucket: b, Users: int64(600 >> j), Share: f(float64(int64(600)>>j) / 1234)})
		}
		write(t, dir, "gold/session_frequency/month="+m, freq)
	}
}

func renderEngagement(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	writeLake(t, dir)
	writeEngagement(t, dir)
	g, err := Load(context.Background(), dirLake(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.PowerUsers) != 6 || len(g.Frequency) != 18 || len(g.Cohorts) != 465+240 {
		t.Fatalf("loaded %d power users, %d frequency rows, %d cohort cells", len(g.PowerUsers), len(g.Frequency), len(g.Cohorts))
	}
	var b bytes.Buffer
	if err := Render(&b, g, "file:///lake"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b.String()
}

func TestRenderEngagement(t *testing.T) {
	_, page := renderEngagement(t)
	for _, banned := range []string{"<script", "http://", "https://", "<link", "@import", "url("} {
		if strings.Contains(page, banned) {
			t.Errorf("page contains %q: it must not load anything", banned)
		}
	}
	for _, want := range []string{
		"In 2023-03 the top 2 of 1,234 active users hold <b>8.0%</b> of all engaged time",
		"<td>1</td><td>u&lt;9&gt;</td><td>10</td><td>300</td><td>40</td><td>20</td><td>7.0%</td>",
		"<h3>first_seen</h3>", "<h3>join_date</h3>",
		"cohort 2023-03-27, week 0: 129 of 129 users (100.0%)",                 // the last cohort
		"cohort 2022-10-03, week 25: 15 of 104 users (14.4%), week not wholly", // first_seen's oldest of 26
		"<td>2023-01</td><td>48.6%</td>", ">21+ sessions<",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "cohort 2022-09-26,") {
		t.Error("first_seen draws more than the last 26 cohorts")
	}
}

// TestRenderEngagementInBrowser checks in headless Chromium's DOM that the heat maps drew every cell
// of the last 26 cohorts (by 26 week offsets at most) in several colours.
func TestRenderEngagementInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run scripts/setup.sh (Debian package chromium)")
	}
	path, _ := renderEngagement(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--dump-dom", "file://"+path).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	cells := regexp.MustCompile(`<g class="hcell[^"]*"[^>]*><rect [^>]*fill="(#[0-9a-f]{6})"`).FindAllStringSubmatch(string(out), -1)
	// first_seen: cohorts 4 … 29, 30−w cells each = 351; join_date: the 15 even weeks, 240 cells less
	// the offsets past 25 of weeks 0 and 2 (4 + 2).
	if len(cells) != 351+234 {
		t.Fatalf("browser DOM has %d heat-map cells, want %d", len(cells), 351+234)
	}
	colours := map[string]bool{}
	for _, c := range cells {
		colours[c[1]] = true
	}
	if len(colours) < 10 || !strings.Contains(string(out), `style="fill:#fff"`) || !strings.Contains(string(out), `style="fill:#222"`) {
		t.Fatalf("heat-map cells use %d colours", len(colours))
	}
	if n := strings.Count(string(out), `<rect class="bar"`); n != 5+3+6 {
		t.Fatalf("%d bars, want 5 segment bars, 3 months of power users and 6 frequency buckets", n)
	}
}
