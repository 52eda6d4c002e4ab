package compactor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "compactor.prom")
	if err := WriteMetrics(path, Summary{NewAnomalies: 3, Records: 1200, SilverDays: 7}, time.UnixMilli(1_700_000_000_500)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"notestream_compactor_new_anomalies 3\n", "notestream_compactor_records_read 1200\n",
		"notestream_compactor_silver_days 7\n", "notestream_compactor_last_success_timestamp_seconds 1.7000000005e+09\n",
		"# TYPE notestream_compactor_new_anomalies gauge\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics file lacks %q:\n%s", want, b)
		}
	}
}
