package e2e

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/notestream/notestream/internal/tables"
)

type appVersionsAnswer struct {
	Date     string `json:"date"`
	Versions []struct {
		AppVersion string   `json:"app_version"`
		Events     int64    `json:"events"`
		PageViews  int64    `json:"page_views"`
		P50        *float64 `json:"p50_page_view_ms"`
		P95        *float64 `json:"p95_page_view_ms"`
		P99        *float64 `json:"p99_page_view_ms"`
	} `json:"versions"`
}

// compareAppVersions checks SPEC section 9's promise for every day and app version of gold:
// /v1/app-versions has the same versions with exactly the same counts, and percentiles within 1%.
func compareAppVersions(t *testing.T, api, lakeDir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(lakeDir, tables.GoldAppVersionDaily, "date=*", "*.parquet"))
	if err != nil || len(files) < e2eDays {
		t.Fatalf("%s: %v, %d files", tables.GoldAppVersionDaily, err, len(files))
	}
	versions := 0
	for _, f := range files {
		date := strings.TrimPrefix(filepath.Base(filepath.Dir(f)), "date=")
		rows, err := parquet.ReadFile[tables.AppVersionDaily](f)
		if err != nil {
			t.Fatal(err)
		}
		var got appVersionsAnswer
		get(t, api+"/v1/app-versions?date="+date+"&limit=201", &got)
		if len(got.Versions) != len(rows) {
			t.Errorf("%s: real-time %d versions, gold %d", date, len(got.Versions), len(rows))
			continue
		}
		byName := map[string]int{}
		for i, v := range got.Versions {
			byName[v.AppVersion] = i
		}
		for _, want := range rows {
			i, ok := byName[want.AppVersion]
			if !ok {
				t.Errorf("%s: version %q missing in real time", date, want.AppVersion)
				continue
			}
			v := got.Versions[i]
			if v.Events != want.Events || v.PageViews != want.PageViews {
				t.Errorf("%s %s: real-time %d events, %d page views; gold %d, %d", date, want.AppVersion, v.Events, v.PageViews, want.Events, want.PageViews)
			}
			for _, p := range []struct {
				name string
				got  *float64
				gold *int64
			}{{"p50", v.P50, want.P50PageViewMs}, {"p95", v.P95, want.P95PageViewMs}, {"p99", v.P99, want.P99PageViewMs}} {
				switch {
				case (p.got == nil) != (p.gold == nil):
					t.Errorf("%s %s %s: real-time %v, gold %v", date, want.AppVersion, p.name, p.got, p.gold)
				case p.got != nil && math.Abs(*p.got-float64(*p.gold)) > 0.01*float64(*p.gold):
					t.Errorf("%s %s %s: real-time %v, gold %d: %s off", date, want.AppVersion, p.name, *p.got, *p.gold,
						fmt.Sprintf("%.3f%%", 100*math.Abs(*p.got-float64(*p.gold))/float64(*p.gold)))
				}
			}
			versions++
		}
	}
	t.Logf("app versions: %d days, %d day-versions compared", len(files), versions)
}
