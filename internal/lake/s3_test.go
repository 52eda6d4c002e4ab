package lake

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestS3PutWaitsForItsWriter: a Put that fails while its writer still runs returns only after the
// writer does, so Retrying never runs two writers of one object at once.
func TestS3PutWaitsForItsWriter(t *testing.T) {
	_, _, s := startS3(t, "")
	// Every upload now fails at once, before it reads a byte: the writer is still in its first Write.
	mc := s.(*S3).client
	if err := mc.RemoveBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	var running, calls atomic.Int32
	overlap := make(chan int32, 10)
	write := func(w io.Writer) error {
		calls.Add(1)
		if n := running.Add(1); n > 1 {
			overlap <- n
		}
		defer running.Add(-1)
		_, err := w.Write(make([]byte, 1<<20)) // blocks until the upload reads, or gives up
		// Slow to notice: a writer finishing a Parquet footer, say.
		time.Sleep(100 * time.Millisecond)
		return err
	}
	r := NewRetrying(s, RetryConfig{Attempts: 3, Base: time.Millisecond})
	err := r.Put(context.Background(), "x", write)
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), "bucket does not exist") {
		t.Fatalf("put into a removed bucket: %v", err)
	}
	if n := running.Load(); n != 0 {
		t.Errorf("Put returned while %d writers still ran", n)
	}
	if c := calls.Load(); c != 3 {
		t.Errorf("%d writers for 3 attempts", c)
	}
	close(overlap)
	for n := range overlap {
		t.Errorf("%d writers ran at once", n)
	}
}
