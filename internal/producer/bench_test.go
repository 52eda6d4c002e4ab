package producer

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/kwrite"
)

// BenchmarkEventRecord measures the producer's own work per readable row once csvin has parsed it:
// key it, pick its partition, encode value and timestamp into the reused record.
func BenchmarkEventRecord(b *testing.B) {
	p := &producer{}
	part := kgo.StickyKeyPartitioner(nil).ForTopic("interactions")
	in := event.Interaction{UserID: "u123456", Time: 1688221815000, Action: "page_view", PageID: "p456789",
		DurationMs: 12000, AppVersion: "5.7.3"}
	b.ReportAllocs()
	var parts int32
	for b.Loop() {
		p.key = append(p.key[:0], in.UserID...)
		p.keyed.Key = p.key
		parts += int32(part.Partition(&p.keyed, 8))
		p.value = p.enc.AppendInteraction(p.value[:0], &in)
		p.rec = kwrite.Record{Key: p.key, Value: p.value, Timestamp: in.Time}
	}
	_ = parts
}
