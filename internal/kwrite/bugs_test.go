package kwrite_test

// Tests of kwrite bugs reported to the lead, kept apart until kwrite is fixed.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/notestream/notestream/internal/kwrite"
)

// TestFlushContextWhileSealing: Flush waits "until all are acknowledged, the Writer fails, or ctx ends".
// When sealing the open batch has to wait for MaxBuffered (the first batch is held unanswered by kfake),
// Flush must still return when its ctx ends, not when Config.Timeout fails the Writer.
func TestFlushContextWhileSealing(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	w := newWriter(t, c, kwrite.Config{BatchBytes: 100, MaxBuffered: 1, Timeout: 30 * time.Second})
	a := newAppender(t, w, "t")
	held, _ := holdFirstProduce(t, c)
	value := bytes.Repeat([]byte{'v'}, 150)
	a.mustAppend(t, "t", 0, 0, kwrite.Record{Value: value}) // opens the first batch
	a.mustAppend(t, "t", 0, 0, kwrite.Record{Value: value}) // seals it (sent, held) and opens the second
	wait(t, held, "the first produce request")
	flushed := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	go func() { flushed <- w.Flush(ctx) }()
	select {
	case err := <-flushed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush: %v, want its context's deadline", err)
		}
	case <-time.After(3 * time.Second):
		// Close (at cleanup) unblocks it.
		t.Fatal("Flush still blocked 3 s after its context ended: sealing the open batch waits for MaxBuffered without watching ctx")
	}
}

// TestTopicTwice: loading the same topic twice gives two Topics whose partitions would each number
// their batches from sequence 0 under the one producer ID. The broker then takes the second Topic's
// batch for a duplicate of the first's (same sequence, same count) and drops it while acknowledging
// it, or rejects it as out of order. Everything appended through either Topic must arrive.
func TestTopicTwice(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	w := newWriter(t, c, kwrite.Config{Timeout: 10 * time.Second})
	ctx := testCtx(t, 10*time.Second)
	t1, err := w.Topic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	t2, err := w.Topic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	var want []kwrite.Record
	for i, top := range []*kwrite.Topic{t1, t2, t1, t2} {
		r := kwrite.Record{Value: []byte(fmt.Sprintf("through Topic %d, round %d", i%2+1, i/2)), Timestamp: int64(i)}
		if err := top.Append(0, 0, &r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("Flush after append %d: %v", i, err)
		}
	}
	k := tp{"t", 0}
	got := readBack(t, c, "t")[k]
	if len(got) != len(want) {
		t.Errorf("%d records acknowledged (Acked), %d appended, %d in the partition", w.Acked(0), len(want), len(got))
	}
	checkPrefix(t, k, got, want, len(want))
}
