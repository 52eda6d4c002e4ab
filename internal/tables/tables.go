// Package tables defines the lake's tables in one place: each table's path under the lake root and the
// Parquet columns of its rows, written by the compactor and read by everyone through one reader (Read).
package tables

// Table paths under the lake root.
const (
	BronzeInteractions = "bronze/interactions"
	BronzeUsers        = "bronze/users"
	SilverInteractions = "silver/interactions"
	SilverSessions     = "silver/sessions"
	SilverUsers        = "silver/users"
	GoldDailyMetrics   = "gold/daily_metrics"
	GoldDailySegments  = "gold/daily_segments"
	GoldMonthlyMetrics = "gold/monthly_metrics"
	GoldDataQuality    = "gold/data_quality"
	GoldDailySketches  = "gold/daily_sketches"

	GoldPowerUsers       = "gold/power_users"
	GoldCohortRetention  = "gold/cohort_retention"
	GoldSessionFrequency = "gold/session_frequency"
)

// BronzeInteraction is a row of bronze/interactions: the record as on the topic, where it was read,
// and whether the stream would have found it late.
type BronzeInteraction struct {
	UserID         string `parquet:"user_id"`
	Timestamp      int64  `parquet:"timestamp,timestamp(millisecond)"`
	ActionType     string `parquet:"action_type"`
	PageID         string `parquet:"page_id"`
	DurationMs     int64  `parquet:"duration_ms"`
	AppVersion     string `parquet:"app_version"`
	KafkaPartition int32  `parquet:"kafka_partition"`
	KafkaOffset    int64  `parquet:"kafka_offset"`
	Late           bool   `parquet:"late"`
}

// BronzeUser is a row of bronze/users; country is the partition.
type BronzeUser struct {
	UserID           string `parquet:"user_id"`
	JoinDate         string `parquet:"join_date"`
	DeviceType       string `parquet:"device_type"`
	SubscriptionType string `parquet:"subscription_type"`
	KafkaPartition   int32  `parquet:"kafka_partition"`
	KafkaOffset      int64  `parquet:"kafka_offset"`
}

// SilverInteraction is a row of silver/interactions: one valid event.
type SilverInteraction struct {
	UserID     string `parquet:"user_id"`
	Timestamp  int64  `parquet:"timestamp,timestamp(millisecond)"`
	ActionType string `parquet:"action_type"`
	PageID     string `parquet:"page_id"`
	DurationMs int64  `parquet:"duration_ms"`
	AppVersion string `parquet:"app_version"`
}

// SilverSession is a row of silver/sessions.
type SilverSession struct {
	SessionID        string  `parquet:"session_id"`
	UserID           string  `parquet:"user_id"`
	Start            int64   `parquet:"start,timestamp(millisecond)"`
	End              int64   `parquet:"end,timestamp(millisecond)"`
	DurationS        float64 `parquet:"duration_s"`
	Actions          int64   `parquet:"actions"`
	EngagedMs        int64   `parquet:"engaged_ms"`
	Country          string  `parquet:"country"`
	DeviceType       string  `parquet:"device_type"`
	SubscriptionType string  `parquet:"subscription_type"`
}

// SilverUser is a row of silver/users, the latest metadata of a user; country is the partition.
type SilverUser struct {
	UserID           string `parquet:"user_id"`
	JoinDate         *int32 `parquet:"join_date,date"` // nil when unparsable
	DeviceType       string `parquet:"device_type"`
	SubscriptionType string `parquet:"subscription_type"`
}

// DailyMetrics is the row of gold/daily_metrics.
type DailyMetrics struct {
	DAU                  int64   `parquet:"dau"`
	WAU                  int64   `parquet:"wau"`
	MAU                  int64   `parquet:"mau"`
	Stickiness           float64 `parquet:"stickiness"`
	Sessions             int64   `parquet:"sessions"`
	AvgSessionDurationS  float64 `parquet:"avg_session_duration_s"`
	AvgActionsPerSession float64 `parquet:"avg_actions_per_session"`
	P50SessionDurationS  float64 `parquet:"p50_session_duration_s"`
	P95SessionDurationS  float64 `parquet:"p95_session_duration_s"`
	SessionsPerUser      float64 `parquet:"sessions_per_user"`
}

// DailySegment is a row of gold/daily_segments.
type DailySegment struct {
	Dimension            string  `parquet:"dimension"`
	Value                string  `parquet:"value"`
	DAU                  int64   `parquet:"dau"`
	Sessions             int64   `parquet:"sessions"`
	AvgSessionDurationS  float64 `parquet:"avg_session_duration_s"`
	AvgActionsPerSession float64 `parquet:"avg_actions_per_session"`
}

// MonthlyMetrics is the row of gold/monthly_metrics.
type MonthlyMetrics struct {
	MAU                  int64   `parquet:"mau"`
	Sessions             int64   `parquet:"sessions"`
	AvgSessionDurationS  float64 `parquet:"avg_session_duration_s"`
	AvgActionsPerSession float64 `parquet:"avg_actions_per_session"`
	SessionsPerUser      float64 `parquet:"sessions_per_user"` // sessions / MAU; 0 without active users, like daily_metrics'
}

// DataQuality is the row of gold/data_quality: what became of a day's bronze rows.
type DataQuality struct {
	BronzeRows         int64 `parquet:"bronze_rows"`
	ValidEvents        int64 `parquet:"valid_events"`
	UnknownAction      int64 `parquet:"unknown_action"`
	DurationOutOfRange int64 `parquet:"duration_out_of_range"`
	Duplicate          int64 `parquet:"duplicate"`
	Late               int64 `parquet:"late"`
}

// DailySketch is a row of gold/daily_sketches: a Redis-format HyperLogLog of a day's active users.
type DailySketch struct {
	Dimension string `parquet:"dimension"`
	Value     string `parquet:"value"`
	HLL       []byte `parquet:"hll"`
}

// PowerUser is a row of gold/power_users: one of a month's top users by engaged time (SPEC section 8).
type PowerUser struct {
	Rank             int64    `parquet:"rank"`
	UserID           string   `parquet:"user_id"`
	EngagedMs        int64    `parquet:"engaged_ms"`
	Events           int64    `parquet:"events"`
	Sessions         int64    `parquet:"sessions"`
	ActiveDays       int64    `parquet:"active_days"`
	ShareOfEngagedMs *float64 `parquet:"share_of_engaged_ms,optional"` // null when the month's engaged_ms is 0
}

// CohortRetention is a row of gold/cohort_retention; cohort_week (a Monday) is the partition.
type CohortRetention struct {
	Basis         string  `parquet:"basis"`
	WeekOffset    int64   `parquet:"week_offset"`
	CohortSize    int64   `parquet:"cohort_size"`
	RetainedUsers int64   `parquet:"retained_users"`
	Retention     float64 `parquet:"retention"`
	Complete      bool    `parquet:"complete"`
}

// SessionFrequency is a row of gold/session_frequency: the month's active users who started a
// bucket's number of sessions.
type SessionFrequency struct {
	Bucket string   `parquet:"bucket"`
	Users  int64    `parquet:"users"`
	Share  *float64 `parquet:"share,optional"` // null when the month has no active users
}
