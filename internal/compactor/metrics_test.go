package compactor

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/lake"
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

// TestStagesLogged: a run logs each stage's wall time once, in order, and only stages it ran.
func TestStagesLogged(t *testing.T) {
	ds := genData(1, 50, 5, 300)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	store, err := lake.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	c, err := New(Config{Chunk: 3000, Logger: slog.New(slog.NewTextHandler(&log, nil))}, store, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, `msg="stage done"`) {
			if !strings.Contains(line, " elapsed=") {
				t.Errorf("no elapsed time in %q", line)
			}
			stages = append(stages, line[strings.Index(line, "stage="):strings.Index(line, " items=")])
		}
	}
	want := []string{"stage=bronze", `stage="bronze parts"`, "stage=silver", "stage=gold"}
	if !slices.Equal(stages, want) {
		t.Errorf("stages logged: %q, want %q\n%s", stages, want, log.String())
	}
}
