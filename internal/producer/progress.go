package producer

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/notestream/notestream/internal/progress"
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
	Phase      string // PhaseSort or PhaseReplay in a time-ordered replay, else empty
	Sorted     int64  // readable rows sorted (time order)
	Merged     int64  // of them, rows merged and produced so far (time order)
}

// Reporter shows replay progress. Update is called about every 200 ms from one goroutine.
type Reporter interface {
	Update(Status)
	Finish(Status)
}

// BarReporter draws a progress bar on a terminal: rows/s and an ETA from the input size.
type BarReporter struct {
	W     io.Writer
	bar   *progress.Bar
	file  string
	phase string
}

// Update draws the bytes read, or in the replay phase of a time-ordered replay the rows merged of
// those sorted.
func (r *BarReporter) Update(s Status) {
	if r.bar != nil && r.file == s.File && r.phase != s.Phase && s.Phase == PhaseReplay {
		r.bar.Finish()
		r.bar = nil
	}
	total, done, bytes := s.TotalBytes, s.Bytes, true
	if s.Phase == PhaseReplay {
		total, done, bytes = s.Sorted, s.Merged, false
	}
	if r.bar == nil || r.file != s.File {
		r.file, r.phase = s.File, s.Phase
		r.bar = progress.New(r.W, total, progress.Options{Bytes: bytes, Width: 30, Throttle: 200 * time.Millisecond, Keep: true})
	}
	r.phase = s.Phase
	desc := fmt.Sprintf("%s: %d rows, %.0f rows/s", s.File, s.Read, rate(s.Read, s.Elapsed))
	switch s.Phase {
	case PhaseSort:
		desc = fmt.Sprintf("%s: sorting, %d rows read, %.0f rows/s", s.File, s.Read, rate(s.Read, s.Elapsed))
	case PhaseReplay:
		desc = fmt.Sprintf("%s: replaying in time order, %d of %d rows", s.File, s.Merged, s.Sorted)
	}
	r.bar.Describe(desc)
	r.bar.Set(done)
}

func (r *BarReporter) Finish(s Status) {
	r.Update(s)
	r.bar.Finish()
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
	if s.Phase != "" {
		args = append(args, "phase", s.Phase, "sorted", s.Sorted, "merged", s.Merged)
	}
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
