package producer

import (
	"errors"
	"io"
	"sync"
)

const (
	readAheadChunk  = 1 << 20 // bytes per read of the file
	readAheadChunks = 4       // chunks read ahead of the parser
)

// errReadAheadClosed is what Read returns after Close.
var errReadAheadClosed = errors.New("producer: read from a closed read-ahead")

// readAhead reads a file on a goroutine of its own, in chunks, a few chunks ahead of its reader, so
// reading the file overlaps parsing it. It owns the goroutine and the file: Close stops the one,
// waits for it, and closes the other.
type readAhead struct {
	f      io.ReadCloser
	filled chan chunk  // chunks read, in order; closed when the goroutine returns
	free   chan []byte // buffers to read into
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	buf  []byte // the chunk being read, returned to free once consumed
	rest []byte // its unread part
	err  error  // the error that ended the file, once rest is consumed
}

// chunk is one read of the file: its bytes, and the error the read returned.
type chunk struct {
	b   []byte
	err error
}

func newReadAhead(f io.ReadCloser) *readAhead {
	ra := &readAhead{f: f, filled: make(chan chunk, readAheadChunks), free: make(chan []byte, readAheadChunks),
		stop: make(chan struct{}), done: make(chan struct{})}
	// Buffers are allocated as the reading needs them, so a small file costs one.
	for range readAheadChunks - 1 {
		ra.free <- nil
	}
	go ra.read(make([]byte, readAheadChunk))
	return ra
}

// read fills buffers until the file ends, a read fails or Close. One Read per chunk: a chunk of a file
// is read whole, and a slower source hands over what it has without waiting for a full chunk.
func (ra *readAhead) read(buf []byte) {
	defer close(ra.done)
	defer close(ra.filled)
	for {
		n, err := ra.f.Read(buf[:readAheadChunk])
		select {
		case ra.filled <- chunk{b: buf[:n], err: err}:
		case <-ra.stop:
			return
		}
		if err != nil {
			return
		}
		select {
		case buf = <-ra.free:
		case <-ra.stop:
			return
		}
		if buf == nil {
			buf = make([]byte, readAheadChunk)
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(ra.rest) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf // never blocks: free holds every buffer
			ra.buf = nil
		}
		c, ok := <-ra.filled
		if !ok {
			ra.err = errReadAheadClosed
			continue
		}
		ra.buf, ra.rest, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.rest)
	ra.rest = ra.rest[n:]
	return n, nil
}

// Close stops the reading goroutine, waits for it, then closes the file. It is idempotent; Read may
// not be called concurrently with it.
func (ra *readAhead) Close() error {
	first := false
	ra.once.Do(func() {
		first = true
		close(ra.stop)
	})
	<-ra.done
	if !first {
		return nil
	}
	return ra.f.Close()
}
