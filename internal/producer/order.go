package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unsafe"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/extsort"
	"github.com/notestream/notestream/internal/record"
)

// Replay orders (Config.Order).
const (
	OrderTime = "time" // readable rows in event-time order, ties in input order (files only)
	OrderFile = "file" // rows in file order
)

// HeaderSeq replaces HeaderLine on the control records of a time-ordered replay: the position, from
// 1, of a row in the merged (event-time) order of the file's readable rows. A time-ordered replay's
// resume point is defined in that order, which is the same on every run over the same file.
const HeaderSeq = "seq"

// Phases of a replay in Status.
const (
	PhaseSort   = "sort"   // reading the file into sorted runs (dead letters are produced meanwhile)
	PhaseReplay = "replay" // producing the merged rows
)

// byTime reports whether rp replays in event-time order.
func (p *producer) byTime(path string, users bool) bool {
	return p.cfg.Order == OrderTime && !users && path != "-"
}

// readRowsByTime replays an interactions file in event-time order. The first pass parses it, produces
// its dead letters in file order with their lines (so resume finds them as in file order) and sorts
// its readable rows (internal/extsort); the second produces the merged rows, numbered by their
// position in the merged order, which stands for the line in control records (HeaderSeq) and resume.
func (p *producer) readRowsByTime(ctx context.Context, rp *replay, path string) (err error) {
	defer func() { rp.read.Store(rp.rows + rp.sorted.Load() - rp.merged.Load()) }()
	// A named pipe or a device cannot be read twice: the sorter then keeps an in-order prefix too.
	s, err := extsort.New(extsort.Config{Memory: p.cfg.SortMemory, Dir: p.cfg.SortDir, NoReread: rp.in.size < 0})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	rp.phase.Store(phaseSort)
	began := time.Now()

	parser := parseInteractions(rp.in.r)
	defer rp.in.stop(parser)
	var row extsort.Row
	for {
		b, err := p.nextBatch(ctx, parser.full)
		if err != nil {
			return err
		}
		if b == nil {
			return p.readEnd(ctx, rp, io.ErrUnexpectedEOF) // unreachable: the last batch carries the error
		}
		var sorted int64
		for i := range b.rows {
			r := &b.rows[i]
			if r.reason != event.OK {
				if err := p.deadLetter(rp, r.reason, r.line, r.raw); err != nil {
					return err
				}
				continue
			}
			row = extsort.Row{Line: r.line, Plain: b.plain || plainInteraction(&r.in), In: r.in}
			if err := s.Add(&row); err != nil {
				return fmt.Errorf("sort %s: %w", rp.in.name, err)
			}
			sorted++
		}
		rp.read.Store(rp.rows + rp.sorted.Add(sorted))
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if b.err == io.EOF {
			break
		}
		if b.err != nil {
			return p.readEnd(ctx, rp, b.err)
		}
		parser.free <- b
	}
	// Deferred calls run last first: the merging goroutine (below) stops before the prefix it may be
	// reading is closed, and both before the sorter (above) closes and removes its runs.
	var prefix *prefixSource
	defer func() {
		if prefix != nil {
			err = errors.Join(err, prefix.close())
		}
	}()
	src, err := s.Merge(func(line int64) (extsort.Source, error) {
		var err error
		prefix, err = p.reread(path, line)
		return prefix, err
	})
	if err != nil {
		return fmt.Errorf("sort %s: %w", rp.in.name, err)
	}
	st := s.Stats()
	p.cfg.Logger.Info("sorted", "file", rp.in.name, "rows", st.Rows, "in_order", st.InOrder, "runs_on_disk", st.Runs,
		"spilled_bytes", st.SpilledBytes, "sort_dir", s.Dir(), "sort_seconds", time.Since(began).Seconds())
	rp.phase.Store(phaseReplay)
	rp.lastLine = 0
	merger := mergeBatches(src)
	defer merger.close()
	return p.produceBatches(ctx, rp, merger)
}

// mergeBatches reads the merged rows on a goroutine of its own, so merging overlaps producing, and
// hands them over in batches as parseInteractions does, each row's line being its position in the
// merged order; the last batch carries io.EOF or the error that ended the merge.
func mergeBatches(src extsort.Source) *batches {
	var row extsort.Row
	pos := int64(0)
	return startBatches(func(b *parsedBatch) {
		b.rows, b.text, b.plain = b.rows[:0], b.text[:0], true
		for len(b.rows) < parseBatchRows && b.err == nil {
			if err := src.Next(&row); err != nil {
				b.err = err
				if err != io.EOF {
					b.err = fmt.Errorf("merge sorted runs: %w", err)
				}
				break
			}
			pos++
			in := &row.In
			b.rows = append(b.rows, parsed{reason: event.OK, line: pos,
				in:   event.Interaction{Time: in.Time, DurationMs: in.DurationMs},
				lens: [4]uint16{uint16(len(in.UserID)), uint16(len(in.Action)), uint16(len(in.PageID)), uint16(len(in.AppVersion))}})
			b.text = append(append(append(append(b.text, in.UserID...), in.Action...), in.PageID...), in.AppVersion...)
			b.plain = b.plain && row.Plain
		}
		b.cutText()
	})
}

// Values of replay.phase.
const (
	phaseNone = iota
	phaseSort
	phaseReplay
)

func phaseName(ph int32) string {
	switch ph {
	case phaseSort:
		return PhaseSort
	case phaseReplay:
		return PhaseReplay
	}
	return ""
}

// plainInteraction is record.Plain over in's strings.
func plainInteraction(in *event.Interaction) bool {
	for _, s := range [...]string{in.UserID, in.Action, in.PageID, in.AppVersion} {
		if !record.Plain(unsafe.Slice(unsafe.StringData(s), len(s))) {
			return false
		}
	}
	return true
}

// reread opens path again and yields its readable rows up to line: the prefix the sorter found in
// order and did not keep.
func (p *producer) reread(path string, line int64) (*prefixSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reread in-order prefix: %w", err)
	}
	return &prefixSource{f: f, parser: parseInteractions(f), limit: line, name: path}, nil
}

// prefixSource yields the readable rows of a file up to a line, in file order. It owns the file and
// the parser reading it: close stops the parser, waits for it, then closes the file.
type prefixSource struct {
	f      *os.File
	parser *batches
	b      *parsedBatch
	i      int
	limit  int64
	name   string
}

func (s *prefixSource) Next(r *extsort.Row) error {
	for {
		if s.b != nil && s.i < len(s.b.rows) {
			row := &s.b.rows[s.i]
			s.i++
			if row.line > s.limit {
				return s.end(nil)
			}
			if row.reason != event.OK {
				continue
			}
			*r = extsort.Row{Line: row.line, Plain: s.b.plain, In: row.in}
			return nil
		}
		if s.b != nil {
			if s.b.err == io.EOF {
				return s.end(nil)
			}
			if s.b.err != nil {
				return s.end(fmt.Errorf("reread %s: %w", s.name, s.b.err))
			}
			s.parser.free <- s.b // the previous row, from this batch, has been produced
		}
		s.b, s.i = <-s.parser.full, 0
		if s.b == nil {
			return s.end(fmt.Errorf("reread %s: stopped", s.name))
		}
	}
}

// end closes the source at the end of its rows or on an error, which it returns (io.EOF at the end).
func (s *prefixSource) end(err error) error {
	err = errors.Join(err, s.close())
	if err == nil {
		return io.EOF
	}
	return err
}

// close stops the parser and closes the file. It is idempotent.
func (s *prefixSource) close() error {
	if s.f == nil {
		return nil
	}
	s.parser.close()
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("reread %s: %w", s.name, err)
	}
	return nil
}
