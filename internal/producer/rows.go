package producer

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/kwrite"
	"github.com/notestream/notestream/internal/record"
)

// append appends p.rec with the first nHeaders of p.headers to part of t.
func (p *producer) append(t *kwrite.Topic, part int32, tally int, nHeaders int) error {
	p.rec.Headers = p.headers[:nHeaders]
	return t.Append(part, uint8(tally), &p.rec)
}

// setOrigin sets the source and line headers at i and i+1.
func (p *producer) setOrigin(i int, source string, line int64) {
	p.source = append(p.source[:0], source...)
	p.line = strconv.AppendInt(p.line[:0], line, 10)
	p.headers[i] = kwrite.Header{Key: HeaderSource, Value: p.source}
	p.headers[i+1] = kwrite.Header{Key: HeaderLine, Value: p.line}
}

// readRows reads the file and produces every row. It checks for cancellation and publishes the row
// count every few hundred rows: per row, both cost more than a row's partitioning.
func (p *producer) readRows(ctx context.Context, rp *replay) error {
	defer func() { rp.read.Store(rp.rows) }()
	if rp.users {
		rd := csvin.NewUserReader(rp.in.r)
		var u event.User
		for {
			reason, err := rd.Next(&u)
			if err != nil {
				return p.readEnd(ctx, rp, err)
			}
			if reason != event.OK {
				err = p.deadLetter(rp, reason, rd.Line(), rd.Raw())
			} else {
				err = p.userRow(rp, rd.Line(), &u)
			}
			if err != nil {
				return err
			}
			if rp.rows%parseBatchRows == 0 {
				rp.read.Store(rp.rows)
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
			}
		}
	}
	parser := parseInteractions(rp.in.r)
	defer rp.in.stop(parser)
	return p.produceBatches(ctx, rp, parser)
}

// produceBatches produces the rows of the batches bs fills, returning each to it, until the batch
// that carries an error (io.EOF at the end).
func (p *producer) produceBatches(ctx context.Context, rp *replay, bs *batches) error {
	for {
		b, err := p.nextBatch(ctx, bs.full)
		if err != nil {
			return err
		}
		if b == nil {
			return p.readEnd(ctx, rp, io.ErrUnexpectedEOF) // unreachable: the last batch carries the error
		}
		p.plain = b.plain
		for i := range b.rows {
			row := &b.rows[i]
			var err error
			if row.reason != event.OK {
				err = p.deadLetter(rp, row.reason, row.line, row.raw)
			} else {
				err = p.interactionRow(ctx, rp, row.line, &row.in)
			}
			if err != nil {
				return err
			}
		}
		// In a time-ordered replay the file was read in the sort phase: rows read stays at its count.
		if rp.byTime {
			rp.merged.Add(int64(len(b.rows)))
		}
		rp.read.Store(rp.rows + rp.sorted.Load() - rp.merged.Load())
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if b.err != nil {
			return p.readEnd(ctx, rp, b.err)
		}
		bs.free <- b
	}
}

// nextBatch receives the next parsed batch (nil once full is closed). When the input has nothing for
// the linger time (a pipe, a slow source), the batches it filled so far are sent meanwhile.
func (p *producer) nextBatch(ctx context.Context, full <-chan *parsedBatch) (*parsedBatch, error) {
	select {
	case b := <-full:
		return b, nil
	default:
	}
	wait := linger
	for {
		t := time.NewTimer(wait)
		select {
		case b := <-full:
			t.Stop()
			return b, nil
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		case <-t.C:
		}
		next, err := p.linger()
		if err != nil {
			return nil, err
		}
		if next == 0 {
			select {
			case b := <-full:
				return b, nil
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}
		wait = next
	}
}

func (p *producer) readEnd(ctx context.Context, rp *replay, err error) error {
	if err == io.EOF {
		return p.writerErr()
	}
	if e := p.writerErr(); e != nil {
		return e
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return fmt.Errorf("read %s: %w", rp.in.name, err)
}

func (p *producer) writerErr() error { return unreachable(p.w.Err()) }

// deadLetter produces an unreadable row, its raw line with the reason, to the dead-letter topic.
func (p *producer) deadLetter(rp *replay, reason event.Reason, line int64, raw []byte) error {
	rp.count(line)
	part := int32(line % int64(rp.nDLQ))
	if line <= rp.done.dlqLine(part) {
		rp.skipped++
		return nil
	}
	p.value = append(p.value[:0], raw...)
	p.rec = kwrite.Record{Value: p.value, Timestamp: time.Now().UnixMilli()} // when it was rejected
	p.setOrigin(0, rp.in.name, line)
	p.label = append(p.label[:0], reason.String()...)
	p.headers[2] = kwrite.Header{Key: HeaderReason, Value: p.label}
	return unreachable(p.append(rp.dlq, part, tallyDeadLetter+int(reason), 3))
}

// userRow produces a readable users row.
func (p *producer) userRow(rp *replay, line int64, u *event.User) error {
	rp.count(line)
	part := rp.parts.partition(u.UserID)
	if rp.done.skipEvent(part, line) {
		rp.skipped++
		return nil
	}
	p.value = record.AppendUser(p.value[:0], u)
	p.rec = kwrite.Record{Key: bytesOf(u.UserID), Value: p.value, Timestamp: time.Now().UnixMilli()}
	p.setOrigin(0, rp.in.name, line)
	return unreachable(p.append(rp.out, part, tallyProduced, 2))
}

// interactionRow produces a readable interactions row, paced by --speed, and the progress control
// records that are due.
func (p *producer) interactionRow(ctx context.Context, rp *replay, line int64, in *event.Interaction) error {
	rp.count(line)
	rp.maxEvent = max(rp.maxEvent, in.Time)
	// The key is never empty (csvin rejects an empty user_id), so this is the partition franz-go's
	// and Java's default partitioners choose, stable across runs.
	part := rp.parts.partition(in.UserID)
	if rp.done.skipEvent(part, line) {
		rp.skipped++
		return nil
	}
	if !rp.marked[part] {
		if err := p.control(rp, part, record.ControlProgress, line-1); err != nil {
			return err
		}
	}
	p.event = in
	p.eventRec.Key, p.eventRec.Timestamp = bytesOf(in.UserID), in.Time
	if err := rp.out.Append(part, tallyProduced, &p.eventRec); err != nil {
		return unreachable(err)
	}
	if err := rp.pace.wait(ctx, rp.maxEvent); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return unreachable(err)
	}
	rp.rowsSince++
	if rp.rowsSince >= p.cfg.ProgressRows || (rp.rowsSince&255 == 0 && time.Since(rp.lastProgress) >= p.cfg.ProgressInterval) ||
		(rp.pace.speed > 0 && time.Since(rp.lastProgress) >= p.cfg.ProgressInterval) {
		return p.sendControl(rp, record.ControlProgress)
	}
	return nil
}

// count counts a row read at line, readable or not.
func (rp *replay) count(line int64) {
	rp.rows++
	rp.lastLine = line
}

// sendControl sends a control record of kind to every interactions partition. Each is appended after
// the rows read so far, so a consumer sees it after every earlier event of its partition. Progress
// skips a partition still holding rows to skip on --resume (they would precede it).
func (p *producer) sendControl(rp *replay, kind string) error {
	rp.rowsSince, rp.lastProgress = 0, time.Now()
	for part := range rp.nParts {
		if kind == record.ControlProgress && rp.done.pending(part) {
			continue
		}
		if err := p.control(rp, part, kind, rp.lastLine); err != nil {
			return err
		}
	}
	return nil
}

// control appends one control record of kind to part; every row meant for part up to line precedes it.
func (p *producer) control(rp *replay, part int32, kind string, line int64) error {
	rp.marked[part] = true
	p.value = record.AppendControl(p.value[:0], record.Control{Kind: kind, EventTime: rp.maxEvent})
	p.rec = kwrite.Record{Value: p.value, Timestamp: rp.maxEvent}
	p.label = append(p.label[:0], kind...)
	p.headers[0] = kwrite.Header{Key: record.ControlHeader, Value: p.label}
	p.setOrigin(1, rp.in.name, line)
	if rp.byTime {
		p.headers[2].Key = HeaderSeq
	}
	return unreachable(p.append(rp.out, part, tallyControl, 3))
}
