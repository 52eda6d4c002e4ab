package producer

import (
	"io"
	"sync"
	"unsafe"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
)

// parsed is one interactions row as read by csvin.
type parsed struct {
	reason event.Reason
	line   int64
	in     event.Interaction
	raw    []byte    // the input line of an unreadable row, in its batch's arena
	lens   [4]uint16 // lengths of in's strings, until they are cut from the batch's text
}

// parsedBatch is a run of rows handed from the parsing goroutine to the producing one; err ends the
// input (io.EOF at its end).
type parsedBatch struct {
	rows  []parsed
	arena []byte
	text  []byte // the rows' text fields, which their strings share (cutText)
	plain bool   // text needs no JSON escaping (record.Plain), as nearly always
	err   error
}

const (
	parseBatchRows = 1024 // rows per handoff: amortises the channel operations and goroutine wake-ups
	parseBatches   = 4    // batches in flight: bounds memory
)

// batches hands parsed batches from a goroutine that fills them to the one that produces them: the
// producing side receives each batch on full and returns it on free once done with it. The filling
// goroutine belongs to whoever started it, who stops it with close.
type batches struct {
	full <-chan *parsedBatch // closed once the goroutine has returned
	free chan<- *parsedBatch
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// startBatches calls fill on a goroutine of its own with each free batch in turn and sends the batch
// on full, until a batch ends with an error (the last one; io.EOF at the end of the input) or stop.
// fill resets the batch it is given and fills it.
func startBatches(fill func(*parsedBatch)) *batches {
	full := make(chan *parsedBatch, parseBatches)
	free := make(chan *parsedBatch, parseBatches)
	for range parseBatches {
		free <- &parsedBatch{rows: make([]parsed, 0, parseBatchRows)}
	}
	bs := &batches{full: full, free: free, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(bs.done)
		defer close(full)
		for {
			var b *parsedBatch
			select {
			case b = <-free:
			case <-bs.stop:
				return
			}
			fill(b)
			end := b.err != nil
			select {
			case full <- b:
			case <-bs.stop:
				return
			}
			if end {
				return
			}
		}
	}()
	return bs
}

// abandon tells the goroutine to stop without waiting for it: it returns once its current fill does.
func (bs *batches) abandon() { bs.once.Do(func() { close(bs.stop) }) }

// close stops the goroutine and waits until it has returned, so whatever its fill reads can be closed.
// It is idempotent.
func (bs *batches) close() {
	bs.abandon()
	<-bs.done
}

// parseInteractions reads rows from r on a goroutine of its own, so CSV parsing overlaps record
// building and producing, in batches until the input ends or the batches are closed. The goroutine
// reads r until close returns: after that, as soon as its current Read returns.
func parseInteractions(r io.Reader) *batches {
	rd := csvin.NewInteractionReader(r)
	var f csvin.InteractionFields
	return startBatches(func(b *parsedBatch) {
		b.rows, b.arena, b.text = b.rows[:0], b.arena[:0], b.text[:0]
		for len(b.rows) < parseBatchRows && b.err == nil {
			b.rows = append(b.rows, parsed{})
			row := &b.rows[len(b.rows)-1]
			row.reason, b.err = rd.NextFields(&f)
			if b.err != nil {
				b.rows = b.rows[:len(b.rows)-1]
				break
			}
			row.line = rd.Line()
			if row.reason != event.OK {
				start := len(b.arena)
				b.arena = append(b.arena, rd.Raw()...)
				row.raw = b.arena[start:len(b.arena):len(b.arena)]
				continue
			}
			row.in.Time, row.in.DurationMs = f.Time, f.DurationMs
			row.lens = [4]uint16{uint16(len(f.UserID)), uint16(len(f.Action)), uint16(len(f.PageID)), uint16(len(f.AppVersion))}
			b.text = append(append(append(append(b.text, f.UserID...), f.Action...), f.PageID...), f.AppVersion...)
		}
		b.plain = record.Plain(b.text)
		b.cutText()
	})
}

// cutText sets the rows' strings, slices of the batch's text without a copy. They are valid until the
// batch goes back to the parser, which overwrites the text: the producing goroutine copies what it
// keeps of a row (into a record batch) before that.
func (b *parsedBatch) cutText() {
	text := unsafe.String(unsafe.SliceData(b.text), len(b.text))
	cut := func(n uint16) string {
		s := text[:n]
		text = text[n:]
		return s
	}
	for i := range b.rows {
		row := &b.rows[i]
		if row.reason == event.OK {
			row.in.UserID, row.in.Action = cut(row.lens[0]), cut(row.lens[1])
			row.in.PageID, row.in.AppVersion = cut(row.lens[2]), cut(row.lens[3])
		}
	}
}
