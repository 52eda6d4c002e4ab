package report

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/notestream/notestream/internal/tables"
)

// The test lake's rows carry their columns in another order than the report's structs, plus columns the
// report does not know, the way a newer compactor might write them.
type goldDay struct {
	SessionsPerUser      float64 `parquet:"sessions_per_user"`
	Sessions             int64   `parquet:"sessions"`
	DAU                  int64   `parquet:"dau"`
	WAU                  int64   `parquet:"wau"`
	MAU                  int64   `parquet:"mau"`
	Stickiness           float64 `parquet:"stickiness"`
	AvgSessionDurationS  float64 `parquet:"avg_session_duration_s"`
	AvgActionsPerSession float64 `parquet:"avg_actions_per_session"`
	P50SessionDurationS  float64 `parquet:"p50_session_duration_s"`
	P95SessionDurationS  float64 `parquet:"p95_session_duration_s"`
	ComputedAt           int64   `parquet:"computed_at,timestamp(millisecond)"`
}

type goldSegment struct {
	Dimension            string  `parquet:"dimension"`
	Value                string  `parquet:"value"`
	DAU                  int64   `parquet:"dau"`
	Sessions             int64   `parquet:"sessions"`
	AvgSessionDurationS  float64 `parquet:"avg_session_duration_s"`
	AvgActionsPerSession float64 `parquet:"avg_actions_per_session"`
}

type goldMonth struct {
	MAU                  int64   `parquet:"mau"`
	Sessions             int64   `parquet:"sessions"`
	AvgSessionDurationS  float64 `parquet:"avg_session_duration_s"`
	AvgActionsPerSession float64 `parquet:"avg_actions_per_session"`
	SessionsPerUser      float64 `parquet:"sessions_per_user"`
}

type goldQuality struct {
	BronzeRows         int64 `parquet:"bronze_rows"`
	ValidEvents        int64 `parquet:"valid_events"`
	UnknownAction      int64 `parquet:"unknown_action"`
	DurationOutOfRange int64 `parquet:"duration_out_of_range"`
	Duplicate          int64 `parquet:"duplicate"`
	Late               int64 `parquet:"late"`
}

const testDays = 90

// writeLake writes testDays days of gold tables from 2023-01-01 under dir.
func writeLake(t *testing.T, dir string) {
	t.Helper()
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range testDays {
		date := start.AddDate(0, 0, i).Format(time.DateOnly)
		dau := int64(100 + i)
		write(t, dir, "gold/daily_metrics/date="+date, []goldDay{{
			DAU: dau, WAU: 3 * dau, MAU: 8 * dau, Stickiness: 0.125, Sessions: 2 * dau,
			AvgSessionDurationS: 300 + float64(i), AvgActionsPerSession: 4.5, P50SessionDurationS: 200, P95SessionDurationS: 900,
			SessionsPerUser: 2, ComputedAt: 1,
		}})
		write(t, dir, "gold/daily_segments/date="+date, []goldSegment{
			{"country", "US", 3 * dau / 4, 3 * dau / 2, 300, 4.5},
			{"country", "unknown", dau / 4, dau / 2, 300, 4.5},
			{"device_type", "iPad", dau, 2 * dau, 300, 4.5},
			{"subscription_type", "free", dau / 2, dau, 300, 4.5},
			{"subscription_type", "premium", dau / 2, dau, 300, 4.5},
		})
		write(t, dir, "gold/data_quality/date="+date, []goldQuality{{
			BronzeRows: 1000, ValidEvents: 990, UnknownAction: 4, DurationOutOfRange: 3, Duplicate: 2, Late: int64(i % 3),
		}})
	}
	for _, m := range []string{"2023-01", "2023-02", "2023-03"} {
		write(t, dir, "gold/monthly_metrics/month="+m, []goldMonth{{MAU: 1234, Sessions: 5678, AvgSessionDurationS: 310.5, AvgActionsPerSession: 4.5, SessionsPerUser: 4.6}})
	}
	// Leftovers of an interrupted writer and foreign files are not data files.
	for _, name := range []string{"gold/daily_metrics/_tmp/x.parquet", "gold/daily_metrics/date=2023-01-01/.part-1.parquet.tmp-1",
		"gold/daily_metrics/date=2023-01-01/_SUCCESS", "gold/daily_metrics/date=2023-01-01/old/part-0.parquet"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func write[T any](t *testing.T, dir, part string, rows []T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, part), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows, parquet.Compression(&zstd.Codec{})); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, part, "part-0.parquet"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dirLake is a Lake over a local directory, listing every file (lake.Dir hides dot files; this does not,
// to check that the report skips them itself).
type dirLake string

func (d dirLake) List(_ context.Context, prefix string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(string(d), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(string(d), p)
		if key := filepath.ToSlash(rel); err == nil && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return err
	})
	slices.Sort(keys)
	return keys, err
}

func (d dirLake) Get(_ context.Context, key string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), filepath.FromSlash(key)))
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeLake(t, dir)
	g, err := Load(t.Context(), dirLake(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Days) != testDays || len(g.Segments) != 5*testDays || len(g.Months) != 3 || len(g.Quality) != testDays {
		t.Fatalf("rows: %d days, %d segments, %d months, %d quality", len(g.Days), len(g.Segments), len(g.Months), len(g.Quality))
	}
	d := g.Days[testDays-1]
	want := Day{Date: "2023-03-31", DailyMetrics: tables.DailyMetrics{DAU: 189, WAU: 567, MAU: 1512, Stickiness: 0.125, Sessions: 378,
		AvgSessionDurationS: 389, AvgActionsPerSession: 4.5, P50SessionDurationS: 200, P95SessionDurationS: 900, SessionsPerUser: 2}}
	if d != want {
		t.Fatalf("last day\n got %+v\nwant %+v", d, want)
	}
	if s := g.Segments[0]; s.Date != "2023-01-01" || s.Dimension != "country" || s.Value != "US" || s.DAU != 75 {
		t.Fatalf("first segment row: %+v", s)
	}
	if m := g.Months[1]; m.Month != "2023-02" || m.MAU != 1234 {
		t.Fatalf("month: %+v", m)
	}

	g.Through("2023-02-01")
	if len(g.Days) != 32 || g.Days[31].Date != "2023-02-01" || len(g.Segments) != 5*32 || len(g.Quality) != 32 || len(g.Months) != 2 {
		t.Fatalf("through 2023-02-01: %d days (last %s), %d segments, %d quality, %d months",
			len(g.Days), g.Days[len(g.Days)-1].Date, len(g.Segments), len(g.Quality), len(g.Months))
	}

	empty, err := Load(t.Context(), dirLake(t.TempDir()))
	if err != nil || len(empty.Days) != 0 {
		t.Fatalf("empty lake: %v %+v", err, empty)
	}
	if err := os.WriteFile(filepath.Join(dir, "gold/daily_metrics/date=2023-01-01/part-0.parquet"), []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(t.Context(), dirLake(dir)); err == nil || !strings.Contains(err.Error(), "date=2023-01-01") {
		t.Fatalf("corrupt file: err = %v, want one naming the file", err)
	}
}

// TestLoadRejectsMissingColumn checks that a file lacking a column of the gold schema, such as one
// renamed by its writer, fails to load instead of drawing zeros.
func TestLoadRejectsMissingColumn(t *testing.T) {
	dir := t.TempDir()
	writeLake(t, dir)
	type renamed struct {
		DAU int64   `parquet:"dau"`
		P95 float64 `parquet:"p95_duration_s"`
	}
	write(t, dir, "gold/daily_metrics/date=2023-02-01", []renamed{{DAU: 1, P95: 900}})
	_, err := Load(t.Context(), dirLake(dir))
	if err == nil || !strings.Contains(err.Error(), "date=2023-02-01") || !strings.Contains(err.Error(), "p95_session_duration_s") {
		t.Fatalf("err = %v, want one naming the file and the missing column", err)
	}
}

func render(t *testing.T) (path, page string) {
	t.Helper()
	dir := t.TempDir()
	writeLake(t, dir)
	g, err := Load(t.Context(), dirLake(dir))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, g, "file://"+dir); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.String()
}

func TestWriteHeadline(t *testing.T) {
	dir := t.TempDir()
	writeLake(t, dir)
	g, err := Load(t.Context(), dirLake(dir))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteHeadline(&b, g); err != nil {
		t.Fatal(err)
	}
	want := "gold 2023-01-01 … 2023-03-31\n" +
		"  2023-03-31: DAU 189, WAU 567, MAU 1,512, stickiness 0.125\n" +
		"  2023-03-31: 378 sessions, avg session 389 s, 4.50 actions/session\n" +
		"  all days: 26,010 sessions, avg session 349.17 s, 4.50 actions/session\n" +
		"  calendar month 2023-03: MAU 1,234\n"
	if b.String() != want {
		t.Fatalf("headline\n got %q\nwant %q", b.String(), want)
	}
}

func TestRenderSelfContained(t *testing.T) {
	_, page := render(t)
	for _, banned := range []string{"<script", "http://", "https://", "<link", "@import", "url("} {
		if strings.Contains(page, banned) {
			t.Errorf("page contains %q: it must not load anything", banned)
		}
	}
	for _, want := range []string{"2023-01-01 to 2023-03-31", ">189<", "0.125", "<td>2023-02</td><td>1,234</td>", "unknown_action"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestRenderInBrowser opens the report in headless Chromium and checks, in the DOM the browser built,
// that every chart drew its data.
func TestRenderInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: run scripts/setup.sh (Debian package chromium)")
	}
	path, _ := render(t)
	browse := func(args ...string) []byte {
		t.Helper()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir()}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a busy machine, not a hang
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, append(append(base, args...), "file://"+path)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
		}
		return out
	}

	dom := string(browse("--dump-dom"))
	// Line charts: active users (3), sessions (1), durations (3), actions (1), quality (4).
	polylines := regexp.MustCompile(`<polyline class="series" data-series="([^"]+)" data-points="(\d+)"[^>]* points="([^"]*)"`).FindAllStringSubmatch(dom, -1)
	if len(polylines) != 12 {
		t.Fatalf("browser DOM has %d series, want 12", len(polylines))
	}
	for _, m := range polylines {
		n, _ := strconv.Atoi(m[2])
		if n != testDays || len(strings.Fields(m[3])) != testDays {
			t.Errorf("series %s drew %d points (%d in points), want %d", m[1], n, len(strings.Fields(m[3])), testDays)
		}
	}
	// Segment bars: two countries, one device, two subscriptions, each with a width.
	bars := regexp.MustCompile(`<rect class="bar"[^>]* width="([\d.]+)"`).FindAllStringSubmatch(dom, -1)
	if len(bars) != 5 {
		t.Fatalf("browser DOM has %d segment bars, want 5", len(bars))
	}
	for _, m := range bars {
		if w, _ := strconv.ParseFloat(m[1], 64); w <= 0 {
			t.Errorf("segment bar of width %s", m[1])
		}
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	browse("--screenshot="+shot, "--window-size=1100,2600", "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 20_000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %v, %d bytes", err, len(png))
	}
	if dst := os.Getenv("NOTESTREAM_REPORT_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSegmentChartsCapBars(t *testing.T) {
	var rows []SegmentDay
	for i := range 20 {
		rows = append(rows, SegmentDay{Date: "2023-01-01",
			DailySegment: tables.DailySegment{Dimension: "country", Value: fmt.Sprintf("c%02d", i), DAU: int64(100 - i), Sessions: 1}})
	}
	charts := segmentCharts(rows)
	if len(charts) != 1 {
		t.Fatalf("%d charts, want 1", len(charts))
	}
	svg := string(charts[0].SVG)
	if n := strings.Count(svg, `<rect class="bar"`); n != maxBars {
		t.Fatalf("%d bars, want %d", n, maxBars)
	}
	// c11 … c19 (765 of 1,810 user-days, 9 of 20 sessions) share the last bar.
	if !strings.Contains(svg, ">9 others<") || !strings.Contains(svg, "42.3% of user-days, 45.0% of sessions") {
		t.Fatalf("last bar is not the 9 smallest values together:\n%s", svg)
	}
}
