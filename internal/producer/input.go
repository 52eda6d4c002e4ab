package producer

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// input is an open CSV file with its byte count for progress.
type input struct {
	name   string // the source header: the file's base name, or "stdin"
	r      *countingReader
	size   int64
	closer io.Closer
}

func (p *producer) open(path string) (*input, error) {
	if path == "-" {
		return &input{name: "stdin", r: &countingReader{r: p.cfg.Stdin}, size: -1}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return &input{name: filepath.Base(path), r: &countingReader{r: f}, size: size, closer: f}, nil
}

// report calls the Reporter every 200 ms until the returned stop function is called.
func (p *producer) report(status func() Status) (stop func()) {
	rep := p.cfg.Reporter
	if rep == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				rep.Finish(status())
				return
			case <-tick.C:
				rep.Update(status())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// stop stops bs, which reads in, and waits for it before in is closed. Stdin is not ours to close,
// and an idle one could hold a Read, and so the wait, forever: its parser ends with the process.
func (in *input) stop(bs *batches) {
	if in.closer == nil {
		bs.abandon()
		return
	}
	bs.close()
}
