package kafkasource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/compactor"
	"github.com/notestream/notestream/internal/compactor/kafkasource"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/testenv"
)

// TestSource reads back, from Apache Kafka and from kfake, records produced at known partitions and
// offsets: data and control records with their header, and a transaction whose commit marker takes
// the partition's last offset (Read must see it to know it reached the end).
func TestSource(t *testing.T) {
	for name, opts := range map[string][]testenv.KafkaOption{"apache": nil, "kfake": {testenv.Kfake()}} {
		t.Run(name, func(t *testing.T) { testSource(t, testenv.StartKafka(t, opts...)) })
	}
}

const topic = "interactions"

func testSource(t *testing.T, k *testenv.Kafka) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want := produce(ctx, t, k) // by partition, in offset order
	src, err := kafkasource.New([]string{k.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	last := want[1][len(want[1])-1].Offset
	// Apache Kafka's coordinator writes the commit marker after EndTransaction has returned.
	var starts, ends map[int32]int64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		starts, ends, err = src.Offsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if ends[1] > last+1 || time.Now().After(deadline) {
			break
		}
	}
	wantEnds := map[int32]int64{0: want[0][len(want[0])-1].Offset + 1, 1: last + 2, 2: 0}
	if !maps.Equal(starts, map[int32]int64{0: 0, 1: 0, 2: 0}) || !maps.Equal(ends, wantEnds) {
		t.Fatalf("offsets: starts %v, ends %v; want starts 0, ends %v (partition 1 ending in a commit marker)", starts, ends, wantEnds)
	}

	f := func(from, to map[int32]int64) {
		t.Helper()
		// Bounded, so a read that misses the end of its range fails instead of waiting for ctx.
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		got := map[int32][]compactor.Record{}
		err := src.Read(rctx, topic, from, to, func(r *compactor.Record) error {
			c := *r
			c.Value = bytes.Clone(r.Value)
			got[r.Partition] = append(got[r.Partition], c)
			return nil
		})
		if err != nil {
			t.Fatalf("read %v..%v: %v", from, to, err)
		}
		for p := range int32(3) {
			var exp []compactor.Record
			for _, r := range want[p] {
				if r.Offset >= from[p] && r.Offset < to[p] {
					exp = append(exp, r)
				}
			}
			if !slices.EqualFunc(got[p], exp, equal) {
				t.Errorf("read %v..%v, partition %d:\n got %v\nwant %v", from, to, p, got[p], exp)
			}
		}
	}
	f(starts, ends)
	f(map[int32]int64{0: 10, 1: 5}, map[int32]int64{0: 21, 1: ends[1]})
	f(map[int32]int64{1: 0}, map[int32]int64{1: last + 1}) // up to the marker, not past it
	f(map[int32]int64{0: 20, 1: 3, 2: 0}, map[int32]int64{0: 20, 1: 4, 2: 0})

	stop := errors.New("stop")
	n := 0
	err = src.Read(ctx, topic, starts, ends, func(*compactor.Record) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("read stopped by fn: %v after %d records, want %v after 1", err, n, stop)
	}

	// A range past the end waits for records that never come, until ctx ends.
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	err = src.Read(short, topic, map[int32]int64{0: 0}, map[int32]int64{0: ends[0] + 1}, func(*compactor.Record) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read past the end: %v, want the context's deadline", err)
	}

	starts, ends, err = src.Offsets(ctx, "missing")
	if err != nil || len(starts) != 0 || len(ends) != 0 {
		t.Errorf("offsets of a missing topic: %v, %v, %v; want none", starts, ends, err)
	}
}

// produce creates the topic with three partitions and writes: to partition 0, 40 events with a
// progress record after every tenth and an end record; to partition 1, 3 events, then 12 in a
// committed transaction; nothing to partition 2. It returns the records by partition.
func produce(ctx context.Context, t *testing.T, k *testenv.Kafka) map[int32][]compactor.Record {
	t.Helper()
	cl := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 3, 1, nil, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	var plain, txn []*kgo.Record
	event := func(p int32, i int) *kgo.Record {
		return &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "event %d/%d", p, i)}
	}
	control := func(kind string, eventTime int64) *kgo.Record {
		return &kgo.Record{Topic: topic, Partition: 0, Value: record.AppendControl(nil, record.Control{Kind: kind, EventTime: eventTime}),
			Headers: []kgo.RecordHeader{{Key: record.ControlHeader, Value: []byte(kind)}}}
	}
	for i := range 40 {
		plain = append(plain, event(0, i))
		if i%10 == 9 {
			plain = append(plain, control(record.ControlProgress, int64(i)))
		}
	}
	plain = append(plain, control(record.ControlEnd, 40))
	for i := range 15 {
		if i < 3 {
			plain = append(plain, event(1, i))
		} else {
			txn = append(txn, event(1, i))
		}
	}
	if err := cl.ProduceSync(ctx, plain...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tx := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("kafkasource-test"))
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, txn...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	out := map[int32][]compactor.Record{}
	for _, r := range append(plain, txn...) {
		rec := compactor.Record{Partition: r.Partition, Offset: r.Offset, Value: r.Value}
		if len(r.Headers) > 0 {
			rec.Control = string(r.Headers[0].Value)
		}
		out[r.Partition] = append(out[r.Partition], rec)
	}
	return out
}

func equal(a, b compactor.Record) bool {
	return a.Partition == b.Partition && a.Offset == b.Offset && bytes.Equal(a.Value, b.Value) && a.Control == b.Control
}
