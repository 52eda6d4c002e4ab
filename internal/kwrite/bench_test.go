package kwrite

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkAppend is the Writer's CPU per event-sized record without the network: Append with the
// value encoded in place, and each sealed batch compressed with snappy and recycled as if
// acknowledged, on one goroutine.
func BenchmarkAppend(b *testing.B) {
	w, tp := offlineWriter(b, 1_000_000, 8)
	newCompress, err := newCompressor(kgo.SnappyCompression())
	if err != nil {
		b.Fatal(err)
	}
	compress := newCompress()
	// Distinct events like the producer's, so that snappy works as hard as on real data.
	rng := rand.New(rand.NewPCG(1, 2))
	actions := []string{"page_view", "edit", "create", "delete", "share"}
	keys, values := make([][]byte, 4096), make([][]byte, 4096)
	for i := range values {
		user := rng.IntN(20_000)
		keys[i] = fmt.Appendf(nil, "u%d", user)
		values[i] = fmt.Appendf(nil, `{"user_id":"u%d","timestamp":"2023-07-%02dT%02d:%02d:%02d.000Z","action_type":"%s","page_id":"p%d","duration_ms":%d,"app_version":"5.%d.%d"}`,
			user, 1+i/512, rng.IntN(24), rng.IntN(60), rng.IntN(60), actions[i%5], rng.IntN(5000), rng.IntN(600_000), i%9, i%4)
	}
	var value []byte
	r := Record{AppendValue: func(dst []byte) []byte { return append(dst, value...) }}
	b.SetBytes(int64(len(values[0])))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Key, value = keys[i%len(keys)], values[i%len(values)]
		r.Timestamp = 1688221815000 + int64(i)*1000
		if err := tp.Append(int32(i%8), 0, &r); err != nil {
			b.Fatal(err)
		}
		i++
		for len(w.toCompress) > 0 {
			bt := <-w.toCompress
			bt.finish(compress)
			p := bt.part
			p.queue = p.queue[1:]
			w.buffered -= len(bt.raw)
			w.free = append(w.free, bt)
		}
	}
}
