package producer

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// closeCounter counts Close calls of its reader.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error {
	c.closed++
	return nil
}

// TestReadAheadReadsEverything: the bytes of several chunks and a partial one, read back in pieces of
// every size, short Reads of the source included, then EOF (iotest.TestReader checks Read's contract).
func TestReadAheadReadsEverything(t *testing.T) {
	data := make([]byte, 3*readAheadChunk+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for name, src := range map[string]func() io.Reader{
		"file":     func() io.Reader { return bytes.NewReader(data) },
		"halves":   func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data[:5000])) },
	} {
		t.Run(name, func(t *testing.T) {
			f := &closeCounter{Reader: src()}
			ra := newReadAhead(f)
			want := data
			if name == "one byte" {
				want = data[:5000]
			}
			if err := iotest.TestReader(ra, want); err != nil {
				t.Fatal(err)
			}
			if err := ra.Close(); err != nil || f.closed != 1 {
				t.Fatalf("Close: %v, file closed %d times", err, f.closed)
			}
			if err := ra.Close(); err != nil || f.closed != 1 {
				t.Fatalf("second Close: %v, file closed %d times", err, f.closed)
			}
		})
	}
}

// TestReadAheadError: a read error reaches the reader after the bytes read before it.
func TestReadAheadError(t *testing.T) {
	broken := errors.New("disk on fire")
	f := &closeCounter{Reader: io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(broken))}
	ra := newReadAhead(f)
	defer ra.Close()
	got, err := io.ReadAll(ra)
	if string(got) != "abc" || !errors.Is(err, broken) {
		t.Fatalf("read %q, %v; want abc, then %v", got, err, broken)
	}
}

// TestReadAheadCloseJoins: Close returns only once the goroutine reads no more, and closes the file
// after that; Read then fails.
func TestReadAheadCloseJoins(t *testing.T) {
	held := &heldReader{rows: strings.NewReader("first chunk"), held: make(chan struct{}), release: make(chan struct{})}
	f := &closeCounter{Reader: held}
	ra := newReadAhead(f)
	if _, err := ra.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	<-held.held // the goroutine is in its next Read
	closed := make(chan error)
	go func() { closed <- ra.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while the goroutine was still in a Read")
	case <-time.After(50 * time.Millisecond):
	}
	if f.closed != 0 {
		t.Fatal("the file was closed under the goroutine")
	}
	close(held.release)
	select {
	case err := <-closed:
		if err != nil || f.closed != 1 {
			t.Fatalf("Close: %v, file closed %d times", err, f.closed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the goroutine's Read did")
	}
	if _, err := ra.Read(make([]byte, 100)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}
