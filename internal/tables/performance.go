package tables

// The performance tables' paths under the lake root (SPEC section 9).
const (
	GoldAppVersionDaily   = "gold/app_version_daily"
	GoldDevicePerformance = "gold/device_performance"
	GoldAnomalies         = "gold/anomalies"
)

// AppVersionDaily is a row of gold/app_version_daily: one app version's valid events of a day. The
// page-view percentiles are nearest-rank and null without page views.
type AppVersionDaily struct {
	AppVersion    string `parquet:"app_version"`
	Events        int64  `parquet:"events"`
	PageViews     int64  `parquet:"page_views"`
	P50PageViewMs *int64 `parquet:"p50_page_view_ms"`
	P95PageViewMs *int64 `parquet:"p95_page_view_ms"`
	P99PageViewMs *int64 `parquet:"p99_page_view_ms"`
	P95DurationMs int64  `parquet:"p95_duration_ms"` // over every valid event of the version
}

// DevicePerformance is a row of gold/device_performance: a month's page views of one device type, or
// of every device (DeviceType "all", the only row with EtaSquared, null when every duration is equal).
type DevicePerformance struct {
	DeviceType     string   `parquet:"device_type"`
	PageViews      int64    `parquet:"page_views"`
	MeanPageViewMs float64  `parquet:"mean_page_view_ms"`
	P50PageViewMs  int64    `parquet:"p50_page_view_ms"`
	P95PageViewMs  int64    `parquet:"p95_page_view_ms"`
	EtaSquared     *float64 `parquet:"eta_squared"`
}

// Anomaly is a row of gold/anomalies: a daily series' value that its same-weekday reference marks
// as a spike or a drop.
type Anomaly struct {
	Metric    string  `parquet:"metric"` // dau or sessions
	Dimension string  `parquet:"dimension"`
	Value     string  `parquet:"value"`
	Observed  int64   `parquet:"observed"`
	Expected  float64 `parquet:"expected"`
	MAD       float64 `parquet:"mad"`
	Z         float64 `parquet:"z"`
	Direction string  `parquet:"direction"` // spike or drop
}
