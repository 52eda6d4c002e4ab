// Package kafkasource reads the compactor's topics from a Kafka cluster.
package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/compactor"
	"github.com/notestream/notestream/internal/record"
)

// Source is a compactor.Source on a Kafka cluster. It reads partitions directly at the planned
// offsets, with no consumer group: the committed offsets live in the lake, next to the data they
// describe.
type Source struct {
	opts []kgo.Opt
	adm  *kadm.Client
	cl   *kgo.Client
}

// New connects to brokers with extra client options (TLS, SASL).
func New(brokers []string, opts ...kgo.Opt) (*Source, error) {
	opts = append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &Source{opts: opts, adm: kadm.NewClient(cl), cl: cl}, nil
}

// Close closes the admin client.
func (s *Source) Close() { s.cl.Close() }

// Offsets implements compactor.Source. A topic that does not exist has no partitions.
func (s *Source) Offsets(ctx context.Context, topic string) (starts, ends map[int32]int64, err error) {
	list := func(f func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
		listed, err := f(ctx, topic)
		if err != nil {
			return nil, err
		}
		out := map[int32]int64{}
		for _, o := range listed[topic] {
			if errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				continue
			}
			if o.Err != nil {
				return nil, o.Err
			}
			out[o.Partition] = o.Offset
		}
		return out, nil
	}
	if starts, err = list(s.adm.ListStartOffsets); err != nil {
		return nil, nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	if ends, err = list(s.adm.ListEndOffsets); err != nil {
		return nil, nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	return starts, ends, nil
}

// Read implements compactor.Source.
func (s *Source) Read(ctx context.Context, topic string, from, to map[int32]int64, fn func(*compactor.Record) error) error {
	at := map[int32]kgo.Offset{}
	left := 0
	for p, f := range from {
		if f < to[p] {
			at[p] = kgo.NewOffset().At(f)
			left++
		}
	}
	if left == 0 {
		return nil
	}
	opts := append(s.opts[:len(s.opts):len(s.opts)],
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at}),
		kgo.FetchMaxWait(500*time.Millisecond),
		// Transaction markers take offsets too, possibly the last of a range: seeing them is how a
		// read knows it reached the end. (Compaction never removes the newest record of a log.)
		kgo.KeepControlRecords(),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	done := map[int32]bool{}
	var rec compactor.Record
	for left > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("fetch %s/%d: %w", t, p, err))
		})
		if ferr != nil {
			return ferr
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			if done[r.Partition] || r.Offset >= to[r.Partition] {
				continue
			}
			if r.Attrs.IsControl() {
				if r.Offset+1 >= to[r.Partition] {
					done[r.Partition] = true
					left--
				}
				continue
			}
			rec = compactor.Record{Partition: r.Partition, Offset: r.Offset, Value: r.Value}
			for _, h := range r.Headers {
				if h.Key == record.ControlHeader {
					rec.Control = string(h.Value)
				}
			}
			if err := fn(&rec); err != nil {
				return err
			}
			if r.Offset+1 >= to[r.Partition] {
				done[r.Partition] = true
				left--
			}
		}
	}
	return nil
}
