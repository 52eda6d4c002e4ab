package main

import _ "embed"

//go:embed perf.sql
var perfSQL string

var perfTables = []string{"gold/app_version_daily", "gold/device_performance", "gold/anomalies"}

// perfComparisons are section 9's tables. Floats that DuckDB sums in another order than the lake
// (means, η², z) are compared rounded; percentiles and counts exactly.
var perfComparisons = []struct{ name, sql, lake string }{
	{"app_version_daily",
		`SELECT CAST(day AS VARCHAR), app_version, events, page_views, p50, p95, p99, p95_duration_ms FROM gold_app_versions`,
		`SELECT date, app_version, events, page_views, p50_page_view_ms, p95_page_view_ms, p99_page_view_ms, p95_duration_ms FROM %s`},
	{"device_performance",
		`SELECT month, device_type, page_views, round(mean_page_view_ms, 6), p50, p95, round(eta_squared, 9) FROM gold_devices`,
		`SELECT month, device_type, page_views, round(mean_page_view_ms, 6), p50_page_view_ms, p95_page_view_ms, round(eta_squared, 9) FROM %s`},
	{"anomalies",
		`SELECT CAST(day AS VARCHAR), metric, dimension, value, observed, expected, mad, round(z, 6), direction FROM gold_anomalies`,
		`SELECT date, metric, dimension, value, observed, expected, mad, round(z, 6), direction FROM %s`},
}
