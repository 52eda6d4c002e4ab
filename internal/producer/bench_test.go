package producer

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
)

// BenchmarkEventRecord measures the producer's own work per readable row once csvin has parsed it:
// take a recycled record, key it, pick its partition, encode value and timestamp, recycle it.
func BenchmarkEventRecord(b *testing.B) {
	p := &producer{}
	p.pool.New = func() any { return &kgo.Record{Headers: make([]kgo.RecordHeader, 0, 3)} }
	part := kgo.StickyKeyPartitioner(nil).ForTopic("interactions")
	in := event.Interaction{UserID: "u123456", Time: 1688221815000, Action: "page_view", PageID: "p456789",
		DurationMs: 12000, AppVersion: "5.7.3"}
	b.ReportAllocs()
	for b.Loop() {
		r := p.get()
		r.Key = append(r.Key, in.UserID...)
		r.Topic, r.Partition = "interactions", int32(part.Partition(r, 8))
		r.Timestamp = time.UnixMilli(in.Time)
		r.Value = record.AppendInteraction(r.Value, &in)
		p.recycle(r)
	}
}
