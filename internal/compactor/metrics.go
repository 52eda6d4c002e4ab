package compactor

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WriteMetrics writes a finished run's numbers to path in Prometheus's text format, for the
// node_exporter textfile collector (a batch job has no /metrics to scrape): the anomalies new in the
// run, what it read and rebuilt, and when it succeeded. The file is replaced atomically.
func WriteMetrics(path string, sum Summary, now time.Time) error {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		g.Set(v)
		reg.MustRegister(g)
	}
	gauge("notestream_compactor_new_anomalies", "Rows of gold/anomalies that the last successful run added (each also logged as a warning).", float64(sum.NewAnomalies))
	gauge("notestream_compactor_records_read", "Records the last successful run read from the topics.", float64(sum.Records))
	gauge("notestream_compactor_silver_days", "Days whose silver and day-local gold the last successful run rebuilt.", float64(sum.SilverDays))
	gauge("notestream_compactor_last_success_timestamp_seconds", "When the last successful run ended, Unix time.", float64(now.UnixMilli())/1000)
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}
