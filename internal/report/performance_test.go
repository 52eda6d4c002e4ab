package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/tables"
)

func ptr[T any](v T) *T { return &v }

// writePerformance adds section 9's tables to a test lake: ten versions (v9 with the most events),
// three device types in each month, and two anomalies.
func writePerformance(t *testing.T, dir string) {
	t.Helper()
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range testDays {
		date := start.AddDate(0, 0, i).Format(time.DateOnly)
		var rows []tables.AppVersionDaily
		for v := range 10 {
			rows = append(rows, tables.AppVersionDaily{AppVersion: fmt.Sprintf("v%d", v), Events: int64(10 * (v + 1)), PageViews: int64(v),
				P50PageViewMs: ptr(int64(1000 * (v + 1))), P95PageViewMs: ptr(int64(3000 * (v + 1))), P99PageViewMs: ptr(int64(4000 * (v + 1))), P95DurationMs: 9})
		}
		rows = append(rows, tables.AppVersionDaily{AppVersion: "no-views", Events: 1})
		write(t, dir, "gold/app_version_daily/date="+date, rows)
		var anomalies []tables.Anomaly
		if i == 40 {
			anomalies = append(anomalies, tables.Anomaly{Metric: "dau", Dimension: "all", Value: "all", Observed: 3, Expected: 150, MAD: 4, Z: -24.5, Direction: "drop"},
				tables.Anomaly{Metric: "sessions", Dimension: "country", Value: "US", Observed: 900, Expected: 300, MAD: 10, Z: 40, Direction: "spike"})
		}
		write(t, dir, "gold/anomalies/date="+date, anomalies)
	}
	for _, m := range []string{"2023-01", "2023-02", "2023-03"} {
		write(t, dir, "gold/device_performance/month="+m, []tables.DevicePerformance{
			{DeviceType: "Android", PageViews: 100, MeanPageViewMs: 2500, P50PageViewMs: 2000, P95PageViewMs: 9000},
			{DeviceType: "iPad", PageViews: 50, MeanPageViewMs: 1200, P50PageViewMs: 1000, P95PageViewMs: 3000},
			{DeviceType: "all", PageViews: 150, MeanPageViewMs: 2066, P50PageViewMs: 1500, P95PageViewMs: 8000, EtaSquared: ptr(0.0831)},
		})
	}
}

func TestRenderPerformance(t *testing.T) {
	dir := t.TempDir()
	writeLake(t, dir)
	writePerformance(t, dir)
	g, err := Load(t.Context(), dirLake(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Perf.AppVersions) != 11*testDays || len(g.Perf.Devices) != 9 || len(g.Perf.Anomalies) != 2 {
		t.Fatalf("loaded %d version rows, %d device rows, %d anomalies", len(g.Perf.AppVersions), len(g.Perf.Devices), len(g.Perf.Anomalies))
	}
	var buf bytes.Buffer
	if err := Render(&buf, g, "file://"+dir); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		// The six versions with the most events are drawn, v9 … v4; v3 and the rest are not.
		`aria-label="95th percentile of page-view duration per app version"`, ">v9<", ">v4<",
		"Page views by device type, 2023-03", "p50 2.0 s, p95 9.0 s, 100 page views",
		"Device type explains 8.3% of the variation in page-view duration (η² = 0.083): a moderate link",
		"<td>2023-02-10</td><td>dau</td><td>everyone</td><td>3</td><td>150.0</td><td>-24.5</td><td>drop</td>",
		"<td>country = US</td>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, ">v3<") {
		t.Error("page draws v3, which is not among the six versions with the most events")
	}
	for _, banned := range []string{"<script", "http://", "https://", "<link", "url("} {
		if strings.Contains(page, banned) {
			t.Errorf("page contains %q", banned)
		}
	}
}

func TestEtaWords(t *testing.T) {
	f := func(eta *float64, want string) {
		t.Helper()
		if got := etaWords(&DeviceMonth{DevicePerformance: tables.DevicePerformance{EtaSquared: eta}}); !strings.Contains(got, want) {
			t.Errorf("etaWords(%v) = %q, want it to contain %q", eta, got, want)
		}
	}
	f(nil, "no variance")
	f(ptr(0.001), "practically no link")
	f(ptr(0.02), "a weak link")
	f(ptr(0.2), "explains 20.0%")
	f(ptr(0.2), "a strong link")
}
