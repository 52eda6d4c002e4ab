package producer

import (
	"io"

	"github.com/notestream/notestream/internal/csvin"
	"github.com/notestream/notestream/internal/event"
)

// parsed is one interactions row as read by csvin.
type parsed struct {
	reason event.Reason
	line   int64
	in     event.Interaction
	raw    []byte // the input line of an unreadable row, in its batch's arena
}

// parsedBatch is a run of rows handed from the parsing goroutine to the producing one; err ends the
// input (io.EOF at its end).
type parsedBatch struct {
	rows  []parsed
	arena []byte
	err   error
}

const (
	parseBatchRows = 256 // rows per handoff: amortises the channel operations and goroutine wake-ups
	parseBatches   = 4   // batches in flight: bounds memory
)

// parseInteractions reads rows on its own goroutine, so CSV parsing overlaps record building and
// Produce, and sends them in batches on the returned channel until the input ends or stop is closed.
// The receiver returns each batch on free once done with it.
func parseInteractions(r io.Reader, stop <-chan struct{}) (full <-chan *parsedBatch, free chan<- *parsedBatch) {
	fullc := make(chan *parsedBatch, parseBatches)
	freec := make(chan *parsedBatch, parseBatches)
	for range parseBatches {
		freec <- &parsedBatch{rows: make([]parsed, 0, parseBatchRows)}
	}
	go func() {
		defer close(fullc)
		rd := csvin.NewInteractionReader(r)
		for {
			var b *parsedBatch
			select {
			case b = <-freec:
			case <-stop:
				return
			}
			b.rows, b.arena = b.rows[:0], b.arena[:0]
			for len(b.rows) < parseBatchRows && b.err == nil {
				b.rows = append(b.rows, parsed{})
				row := &b.rows[len(b.rows)-1]
				row.reason, b.err = rd.Next(&row.in)
				if b.err != nil {
					b.rows = b.rows[:len(b.rows)-1]
					break
				}
				row.line = rd.Line()
				if row.reason != event.OK {
					start := len(b.arena)
					b.arena = append(b.arena, rd.Raw()...)
					row.raw = b.arena[start:len(b.arena):len(b.arena)]
				}
			}
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
	return fullc, freec
}
