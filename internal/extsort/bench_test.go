package extsort

import (
	"bufio"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/s2"
)

// benchRows are challenge-shaped rows: times uniform over a year, users from a million.
func benchRows(n int) []Row {
	rng := rand.New(rand.NewPCG(21, 22))
	rows := genRows(rng, n, 365*86400000, 0)
	for i := range rows {
		rows[i].In.PageID = rows[i].In.PageID[:min(len(rows[i].In.PageID), 6)]
	}
	return rows
}

// BenchmarkAddAndMerge is the sorter's own work per row: encode into the run, radix-sort it, merge it
// back (one run in memory, no spill).
func BenchmarkAddAndMerge(b *testing.B) {
	rows := benchRows(1_000_000)
	b.ReportAllocs()
	for b.Loop() {
		s, err := New(Config{Dir: b.TempDir(), Memory: 256 << 20}) // one run
		if err != nil {
			b.Fatal(err)
		}
		for i := range rows {
			if err := s.Add(&rows[i]); err != nil {
				b.Fatal(err)
			}
		}
		src, _ := s.Merge(nil)
		var r Row
		for src.Next(&r) == nil {
		}
		if st := s.Stats(); st.Runs != 0 {
			b.Fatalf("%d runs spilled", st.Runs)
		}
		s.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}

// BenchmarkSpillCodec writes a sorted run's bytes to a file and reads them back, as is and through
// s2 (snappy's faster successor): whether compressing spills pays on this disk and CPU.
func BenchmarkSpillCodec(b *testing.B) {
	rows := benchRows(500_000)
	var run []byte
	for i := range rows {
		run = appendRow(run, &rows[i])
	}
	path := filepath.Join(b.TempDir(), "run")
	for _, tc := range []struct {
		name   string
		writer func(io.Writer) io.WriteCloser
		reader func(io.Reader) io.Reader
	}{
		{"raw", func(w io.Writer) io.WriteCloser { return nopCloser{bufio.NewWriterSize(w, spillBuffer)} },
			func(r io.Reader) io.Reader { return bufio.NewReaderSize(r, spillBuffer) }},
		{"s2", func(w io.Writer) io.WriteCloser { return s2.NewWriter(w, s2.WriterConcurrency(1)) },
			func(r io.Reader) io.Reader { return s2.NewReader(r) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(run)))
			buf := make([]byte, spillBuffer)
			for b.Loop() {
				f, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				w := tc.writer(f)
				for off := 0; off < len(run); off += 64 << 10 {
					if _, err := w.Write(run[off:min(off+64<<10, len(run))]); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				st, _ := f.Stat()
				b.ReportMetric(float64(st.Size())/float64(len(run)), "size-ratio")
				f.Close()
				f, err = os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				r := tc.reader(f)
				for {
					if _, err := r.Read(buf); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
				f.Close()
			}
		})
	}
}

type nopCloser struct{ *bufio.Writer }

func (w nopCloser) Close() error { return w.Flush() }

// sortedRun returns a sorter holding n rows, sorted, in one run in memory.
func sortedRun(b *testing.B, n int) *Sorter {
	rows := benchRows(n)
	s, err := New(Config{Dir: b.TempDir(), Memory: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for i := range rows {
		if err := s.Add(&rows[i]); err != nil {
			b.Fatal(err)
		}
	}
	if s.Stats().Runs != 0 {
		b.Fatal("the run was spilled")
	}
	s.cur.sort()
	return s
}

// BenchmarkMergeMemRun is reading back a sorted run held in memory: its rows, in time order, are
// scattered over the run.
func BenchmarkMergeMemRun(b *testing.B) {
	const n = 1_000_000
	s := sortedRun(b, n)
	b.ResetTimer()
	for b.Loop() {
		src := &memRun{keys: s.cur.keys, data: s.cur.data}
		var r Row
		for src.Next(&r) == nil {
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}

// BenchmarkWriteRun is spilling a sorted run: its rows, in time order, are scattered over the buffer.
func BenchmarkWriteRun(b *testing.B) {
	const n = 1_000_000
	s := sortedRun(b, n)
	path := filepath.Join(b.TempDir(), "run")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.write(s.cur, path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}
