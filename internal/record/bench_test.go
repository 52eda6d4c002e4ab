package record

import (
	"testing"

	"github.com/notestream/notestream/internal/event"
)

var benchInteraction = event.Interaction{UserID: "u123456", Time: 1688221815000, Action: "page_view",
	PageID: "p456789", DurationMs: 12000, AppVersion: "5.7.3"}

func BenchmarkAppendInteraction(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = AppendInteraction(buf[:0], &benchInteraction)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeInteraction(b *testing.B) {
	v := AppendInteraction(nil, &benchInteraction)
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	var in event.Interaction
	for b.Loop() {
		if err := DecodeInteraction(v, &in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeInteractionGeneral measures the fallback for JSON in another layout.
func BenchmarkDecodeInteractionGeneral(b *testing.B) {
	v := []byte(`{"app_version":"5.7.3","duration_ms":12000,"page_id":"p456789","action_type":"page_view","timestamp":"2023-07-01T14:30:15Z","user_id":"u123456"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	var in event.Interaction
	for b.Loop() {
		if err := DecodeInteraction(v, &in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeUser(b *testing.B) {
	v := AppendUser(nil, &event.User{UserID: "u123456", JoinDate: "2022-01-15", Country: "US", DeviceType: "iPad", SubscriptionType: "premium"})
	b.ReportAllocs()
	var u event.User
	for b.Loop() {
		if err := DecodeUser(v, &u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeControl(b *testing.B) {
	v := AppendControl(nil, Control{Kind: ControlProgress, EventTime: 1688221815000})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeControl(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendPlainInteraction(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	var e Encoder
	for b.Loop() {
		buf = e.AppendPlainInteraction(buf[:0], &benchInteraction)
	}
	b.SetBytes(int64(len(buf)))
}
