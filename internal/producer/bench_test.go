package producer

import (
	"testing"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/kwrite"
)

// BenchmarkEventRecord measures the producer's own work per readable row once csvin has parsed it:
// key it, pick its partition, encode value and timestamp into the reused record.
func BenchmarkEventRecord(b *testing.B) {
	p := &producer{}
	in := event.Interaction{UserID: "u123456", Time: 1688221815000, Action: "page_view", PageID: "p456789",
		DurationMs: 12000, AppVersion: "5.7.3"}
	b.ReportAllocs()
	kp := newKeyPartitioner(8)
	var parts int32
	for b.Loop() {
		parts += kp.partition(in.UserID)
		p.value = p.enc.AppendInteraction(p.value[:0], &in)
		p.rec = kwrite.Record{Key: bytesOf(in.UserID), Value: p.value, Timestamp: in.Time}
	}
	_ = parts
}

func BenchmarkKeyPartitioner(b *testing.B) {
	kp := newKeyPartitioner(8)
	var parts int32
	for b.Loop() {
		parts += kp.partition("u123456")
	}
	_ = parts
}
