package producer

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Status is a snapshot of one file's replay.
type Status struct {
	File       string
	Read       int64 // rows read, including those skipped on resume
	Produced   int64 // rows acknowledged on the event topic
	DeadLetter int64 // rows acknowledged on the dead-letter topic
	Bytes      int64 // input bytes consumed
	TotalBytes int64 // input size, or -1 when unknown (stdin)
	Elapsed    time.Duration
}

// Reporter shows replay progress. Update is called about every 200 ms from one goroutine.
type Reporter interface {
	Update(Status)
	Finish(Status)
}

// BarReporter draws a progress bar on a terminal: rows/s and an ETA from the input size.
type BarReporter struct {
	W    io.Writer
	bar  *progressbar.ProgressBar
	file string
}

func (r *BarReporter) Update(s Status) {
	if r.bar == nil || r.file != s.File {
		r.file = s.File
		r.bar = progressbar.NewOptions64(s.TotalBytes,
			progressbar.OptionSetWriter(r.W),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
		)
	}
	r.bar.Describe(fmt.Sprintf("%s: %d rows, %.0f rows/s", s.File, s.Read, rate(s.Read, s.Elapsed)))
	_ = r.bar.Set64(s.Bytes)
}

func (r *BarReporter) Finish(s Status) {
	r.Update(s)
	_ = r.bar.Finish()
	fmt.Fprintln(r.W)
	r.bar = nil
}

// LogReporter writes a log line every Every (default 5 s) when not on a terminal.
type LogReporter struct {
	Log   *slog.Logger
	Every time.Duration
	last  time.Time
}

func (r *LogReporter) Update(s Status) {
	every := r.Every
	if every == 0 {
		every = 5 * time.Second
	}
	if time.Since(r.last) < every {
		return
	}
	r.last = time.Now()
	r.log(s)
}

func (r *LogReporter) Finish(s Status) { r.log(s) }

func (r *LogReporter) log(s Status) {
	args := []any{"file", s.File, "read", s.Read, "produced", s.Produced, "dead_lettered", s.DeadLetter,
		"rows_per_s", int64(rate(s.Read, s.Elapsed))}
	if s.TotalBytes > 0 {
		args = append(args, "done_pct", 100*s.Bytes/s.TotalBytes)
	}
	r.Log.Info("replay progress", args...)
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// countingReader counts the bytes its reader returned, for progress against the file size.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
