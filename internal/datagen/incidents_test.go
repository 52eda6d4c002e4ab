package datagen

import (
	"bytes"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/reference"
)

// generateRef generates a clean year of 1,000 users and computes the section 9 results from it the
// reference's way, which the lake tests hold gold to.
func generateRef(t *testing.T, incidents bool) (*Profile, *reference.Result) {
	t.Helper()
	cfg := DefaultConfig()
	// 2,000 users: at 1,000 one heavy user's busy day is a genuine spike in the day's sessions (two
	// such days in the clean year, z 5.1 and 6.0).
	cfg.Users, cfg.Rates, cfg.Incidents = 2000, nil, incidents
	var in, users bytes.Buffer
	prof, err := Generate(cfg, &in, &users)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := reference.Compute(&in, &users, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return prof, ref
}

// holidays are the calendar's own dips (planDays), which the anomaly rule rightly finds in any year.
func holiday(date string) bool {
	md := date[5:]
	return md == "12-24" || md == "12-25" || md == "12-26" || md == "12-31" || md == "01-01"
}

// everyone is the anomalies of the all-users series, as "date metric direction".
func everyone(ref *reference.Result) map[string]bool {
	out := map[string]bool{}
	for date, as := range ref.Anomalies {
		for _, a := range as {
			if a.Dimension == "all" && !holiday(date) {
				out[date+" "+a.Metric+" "+a.Score.Direction()] = true
			}
		}
	}
	return out
}

// slowest is the version with the highest median page view among those with 50 or more page views
// on a date.
func slowest(ref *reference.Result, date string) string {
	best, bestP50 := "", int64(-1)
	for _, name := range slices.Sorted(maps.Keys(ref.AppVersions[date])) {
		v := ref.AppVersions[date][name]
		if p50, _ := v.PageViews.Percentile(50); len(v.PageViews) >= 50 && p50 > bestP50 {
			best, bestP50 = name, p50
		}
	}
	return best
}

func TestIncidentsAreFound(t *testing.T) {
	prof, ref := generateRef(t, true)
	pl := prof.Planted
	if pl.SlowVersion == "" || pl.Outage == "" || pl.Spike == "" || pl.SlowDevice != SlowDevice {
		t.Fatalf("planted %+v", pl)
	}
	// The outage and the spike, and nothing else beyond the holidays, in everyone's series.
	want := map[string]bool{pl.Outage + " dau drop": true, pl.Outage + " sessions drop": true,
		pl.Spike + " dau spike": true, pl.Spike + " sessions spike": true}
	if got := everyone(ref); !maps.Equal(got, want) {
		t.Errorf("anomalies of everyone %v, want %v", got, want)
	}
	// The slow release is the slowest version on every day it has enough page views.
	days, slowDays := 0, 0
	for date := range ref.AppVersions {
		v := ref.AppVersions[date][pl.SlowVersion]
		if v == nil || len(v.PageViews) < 50 {
			continue
		}
		days++
		if slowest(ref, date) == pl.SlowVersion {
			slowDays++
		}
	}
	if days < 5 || slowDays != days {
		t.Errorf("%s is the slowest version on %d of the %d days it has 50 page views", pl.SlowVersion, slowDays, days)
	}
	// The slow device has the highest median page view every month.
	for month, devs := range ref.Devices {
		p50 := map[string]int64{}
		for name, d := range devs {
			p50[name], _ = d.Percentile(50)
		}
		for name, v := range p50 {
			if name != SlowDevice && len(devs[name]) >= 100 && v >= p50[SlowDevice] {
				t.Errorf("%s: %s median page view %d ms, not below %s's %d", month, name, v, SlowDevice, p50[SlowDevice])
			}
		}
	}
}

func TestNoIncidentsWithoutThem(t *testing.T) {
	prof, ref := generateRef(t, false)
	if prof.Planted != (Planted{}) {
		t.Fatalf("planted %+v", prof.Planted)
	}
	if got := everyone(ref); len(got) != 0 {
		t.Errorf("anomalies of everyone beyond the holidays on data without incidents: %v", got)
	}
	// No version is the slowest day after day, and no device every month.
	slow := map[string]int{}
	days := 0
	for date := range ref.AppVersions {
		if s := slowest(ref, date); s != "" {
			slow[s]++
			days++
		}
	}
	for name, n := range slow {
		if n > days/4 {
			t.Errorf("version %s is the slowest on %d of %d days without incidents", name, n, days)
		}
	}
}
