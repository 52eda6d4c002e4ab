package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/notestream/notestream/internal/tables"
)

type powerUsersAnswer struct {
	Month          string   `json:"month"`
	ActiveUsers    int64    `json:"active_users"`
	TopPct         float64  `json:"top_pct"`
	EngagedMsShare *float64 `json:"engaged_ms_share"`
	Users          []struct {
		Rank      int64  `json:"rank"`
		UserID    string `json:"user_id"`
		EngagedMs int64  `json:"engaged_ms"`
		Events    int64  `json:"events"`
	} `json:"users"`
}

// readLake reads every object of a lake table: partition value → rows.
func readLake[T any](t *testing.T, lakeDir, table string) map[string][]T {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(lakeDir, table, "*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]T{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := tables.Read([]T(nil), f, b)
		if err != nil {
			t.Fatal(err)
		}
		_, part, _ := strings.Cut(filepath.Base(filepath.Dir(f)), "=")
		out[part] = append(out[part], rows...)
	}
	return out
}

// comparePowerUsers checks SPEC section 8's promise that /v1/power-users equals the lake exactly, for
// every month: the ranks, users, engaged_ms and events of gold/power_users (the compactor's default
// top 1%), the month's active users (gold/monthly_metrics) and the top's share of the month's
// engaged_ms (summed from silver/interactions).
func comparePowerUsers(t *testing.T, api, lakeDir string) {
	t.Helper()
	power := readLake[tables.PowerUser](t, lakeDir, tables.GoldPowerUsers)
	monthly := readLake[tables.MonthlyMetrics](t, lakeDir, tables.GoldMonthlyMetrics)
	type engagedCol struct {
		DurationMs int64 `parquet:"duration_ms"`
	}
	total := map[string]int64{}
	for date, rows := range readLake[engagedCol](t, lakeDir, tables.SilverInteractions) {
		for _, r := range rows {
			total[date[:7]] += r.DurationMs
		}
	}
	if len(power) == 0 || len(power) != len(monthly) {
		t.Fatalf("lake has %d power_users and %d monthly_metrics months", len(power), len(monthly))
	}
	for month, rows := range power {
		var got powerUsersAnswer
		get(t, api+"/v1/power-users?limit=100000&month="+month, &got)
		var top int64
		for _, r := range rows {
			top += r.EngagedMs
		}
		wantShare := float64(top) / float64(total[month])
		if got.Month != month || got.ActiveUsers != monthly[month][0].MAU || got.TopPct != 1 ||
			got.EngagedMsShare == nil || *got.EngagedMsShare != wantShare || len(got.Users) != len(rows) {
			t.Errorf("%s: real-time power users %d active, share %v, %d listed; lake %d active, share %v, %d listed",
				month, got.ActiveUsers, got.EngagedMsShare, len(got.Users), monthly[month][0].MAU, wantShare, len(rows))
			continue
		}
		for i, r := range rows {
			u := got.Users[i]
			if u.Rank != r.Rank || u.UserID != r.UserID || u.EngagedMs != r.EngagedMs || u.Events != r.Events {
				t.Errorf("%s rank %d: real-time %+v, lake %+v", month, i+1, u, r)
			}
		}
	}
	t.Logf("power users equal the lake's in %d months", len(power))
}
