package producer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
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

// BenchmarkParseFile parses a challenge-shaped 1M-row file (in the page cache) on the parsing
// goroutine, read straight from the file or through a readAhead: whether reading ahead shortens the
// parser's path.
func BenchmarkParseFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "in.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(14, 14))
	const rows = 1_000_000
	for i := range rows {
		fmt.Fprintf(w, "u%d,2023-%02d-%02d %02d:%02d:%02d,page_view,p%d,%d,5.%d.%d\n", rng.IntN(1_000_000), 1+rng.IntN(12),
			1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(5000), rng.IntN(600_000), i%9, i%4)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		open func(*os.File) io.ReadCloser
	}{
		{"direct", func(f *os.File) io.ReadCloser { return f }},
		{"readahead", func(f *os.File) io.ReadCloser { return newReadAhead(f) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				r := tc.open(f)
				parser := parseInteractions(r)
				n := 0
				for bt := range parser.full {
					n += len(bt.rows)
					if bt.err != nil {
						break
					}
					parser.free <- bt
				}
				parser.close()
				r.Close()
				if n != rows {
					b.Fatalf("%d rows", n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}
