package producer

import (
	"io"
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

// parseInteractions reads rows on its own goroutine, so CSV parsing overlaps record building and
// Produce, and sends them in batches on the returned channel until the input ends or stop is closed.
// The receiver returns each batch on free once done with it. done is closed when the goroutine has
// returned and reads r no more: after stop is closed, as soon as its current Read returns.
func parseInteractions(r io.Reader, stop <-chan struct{}) (full <-chan *parsedBatch, free chan<- *parsedBatch, done <-chan struct{}) {
	fullc := make(chan *parsedBatch, parseBatches)
	freec := make(chan *parsedBatch, parseBatches)
	donec := make(chan struct{})
	for range parseBatches {
		freec <- &parsedBatch{rows: make([]parsed, 0, parseBatchRows)}
	}
	go func() {
		defer close(donec)
		defer close(fullc)
		rd := csvin.NewInteractionReader(r)
		for {
			var b *parsedBatch
			select {
			case b = <-freec:
			case <-stop:
				return
			}
			b.rows, b.arena, b.text = b.rows[:0], b.arena[:0], b.text[:0]
			var f csvin.InteractionFields
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
			end := b.err != nil
			select {
			case fullc <- b:
			case <-stop:
				return
			}
			if end {
				return
			}
		}
	}()
	return fullc, freec, donec
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
