package producer

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/event"
)

// BenchmarkEventRecord measures the producer's own work per readable row once csvin has parsed it:
// take a recycled record, key it, pick its partition, encode value and headers, recycle it.
func BenchmarkEventRecord(b *testing.B) {
	p := &producer{}
	p.pool.New = func() any { return &kgo.Record{Headers: make([]kgo.RecordHeader, 0, 3)} }
	part := kgo.StickyKeyPartitioner(nil).ForTopic("interactions")
	in := event.Interaction{UserID: "u123456", Time: 1688221815000, Action: "page_view", PageID: "p456789",
		DurationMs: 12000, AppVersion: "5.7.3"}
	b.ReportAllocs()
	var line int64
	for b.Loop() {
		line++
		r := p.get()
		r.Key = append(r.Key, in.UserID...)
		r.Topic, r.Partition = "interactions", int32(part.Partition(r, 8))
		encodeInteraction(r, &in, "user_interactions.csv", line)
		p.recycle(r)
	}
}
