// Package progress draws progress bars on a terminal.
package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal, where a bar can redraw itself in place.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Options say how a bar looks. The zero value draws a 40-column bar with a percentage and an ETA.
type Options struct {
	Description string
	Bytes       bool          // show done and total as byte sizes
	Count       bool          // show done and total as counts
	Width       int           // columns of the bar itself; 0 for 40
	Throttle    time.Duration // redraw at most this often; 0 on every change
	Keep        bool          // leave the finished bar on its line, else clear it
}

// Bar is one progress bar towards a total.
type Bar struct {
	w    io.Writer
	bar  *progressbar.ProgressBar
	keep bool
}

// New starts a bar towards total on w.
func New(w io.Writer, total int64, o Options) *Bar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(o.Description),
		progressbar.OptionShowBytes(o.Bytes),
		progressbar.OptionThrottle(o.Throttle),
		progressbar.OptionSetPredictTime(true),
	}
	if o.Count {
		opts = append(opts, progressbar.OptionShowCount())
	}
	if o.Width > 0 {
		opts = append(opts, progressbar.OptionSetWidth(o.Width))
	}
	if !o.Keep {
		opts = append(opts, progressbar.OptionClearOnFinish())
	}
	return &Bar{w: w, bar: progressbar.NewOptions64(total, opts...), keep: o.Keep}
}

// Describe replaces the text before the bar.
func (b *Bar) Describe(s string) { b.bar.Describe(s) }

// Set moves the bar to n of its total.
func (b *Bar) Set(n int64) { _ = b.bar.Set64(n) }

// Add moves the bar n further.
func (b *Bar) Add(n int64) { _ = b.bar.Add64(n) }

// Finish fills the bar, then ends its line or clears it.
func (b *Bar) Finish() {
	_ = b.bar.Finish()
	if b.keep {
		fmt.Fprintln(b.w)
	}
}

// Stages draws a bar per stage of a run, each with the stage's name and a count, cleared when the next
// stage starts.
type Stages struct {
	w   io.Writer
	bar *Bar
}

// NewStages returns Stages drawing on w.
func NewStages(w io.Writer) *Stages { return &Stages{w: w} }

// Start ends the current stage's bar and starts one for stage, towards total.
func (s *Stages) Start(stage string, total int64) {
	s.Finish()
	s.bar = New(s.w, total, Options{Description: stage, Count: true})
}

// Add moves the current stage's bar n further.
func (s *Stages) Add(n int64) {
	if s.bar != nil {
		s.bar.Add(n)
	}
}

// Finish ends the current stage's bar, if any.
func (s *Stages) Finish() {
	if s.bar != nil {
		s.bar.Finish()
		s.bar = nil
	}
}
