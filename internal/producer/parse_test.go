package producer

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// heldReader returns one batch's worth of rows, then holds its next Read until release is closed.
type heldReader struct {
	rows    *strings.Reader
	held    chan struct{} // closed when a Read is held
	release chan struct{}
	once    sync.Once
}

func (r *heldReader) Read(p []byte) (int, error) {
	if r.rows.Len() > 0 {
		return r.rows.Read(p)
	}
	r.once.Do(func() { close(r.held) })
	<-r.release
	return 0, io.EOF
}

// TestParseInteractionsClose: close returns only once the parser reads no more, so its owner can
// close the file after it.
func TestParseInteractionsClose(t *testing.T) {
	r := &heldReader{rows: strings.NewReader(strings.Repeat("u1,2023-07-01 10:00:00,edit,p1,1,1\n", parseBatchRows+1)),
		held: make(chan struct{}), release: make(chan struct{})}
	parser := parseInteractions(r)
	<-parser.full // the first batch; the parser goes on to the held Read
	<-r.held
	closed := make(chan struct{})
	go func() {
		parser.close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("close returned while the parser was still in a Read")
	case <-time.After(50 * time.Millisecond):
	}
	close(r.release)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("close did not return after the parser's Read returned")
	}
	parser.close() // idempotent
}
