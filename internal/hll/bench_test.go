package hll

import (
	"encoding/binary"
	"strconv"
	"testing"
)

// benchSketch holds n distinct elements.
func benchSketch(n int) *Sketch {
	s := New()
	for i := range n {
		s.AddString("user:" + strconv.Itoa(i))
	}
	return s
}

// BenchmarkAdd adds 16-byte user IDs, the size of the datagen's IDs.
func BenchmarkAdd(b *testing.B) {
	s := New()
	var el [16]byte
	copy(el[:], "user:00000000000")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.LittleEndian.PutUint64(el[8:], uint64(i))
		s.Add(el[:])
	}
}

func BenchmarkAddString(b *testing.B) {
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = "u" + strconv.Itoa(1_000_000+i)
	}
	s := New()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.AddString(ids[i&4095])
	}
}

func BenchmarkCount(b *testing.B) {
	s := benchSketch(100_000)
	b.ReportAllocs()
	for b.Loop() {
		s.Count()
	}
}

// BenchmarkMerge merges two independent sketches of 100,000 elements; each op also copies one of
// them (16 KiB) so that every merge sees unordered registers.
func BenchmarkMerge(b *testing.B) {
	x, y := New(), New()
	for i := range 100_000 {
		x.AddString("x" + strconv.Itoa(i))
		y.AddString("y" + strconv.Itoa(i))
	}
	var o Sketch
	b.ReportAllocs()
	for b.Loop() {
		o = *x
		o.Merge(y)
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		s := benchSketch(n)
		b.Run("redis/n="+strconv.Itoa(n), func(b *testing.B) {
			buf := make([]byte, 0, DenseSize)
			b.ReportAllocs()
			for b.Loop() {
				buf = s.AppendRedis(buf[:0])
			}
			b.SetBytes(int64(len(buf)))
		})
	}
	s := benchSketch(100_000)
	b.Run("dense", func(b *testing.B) {
		buf := make([]byte, 0, DenseSize)
		b.ReportAllocs()
		for b.Loop() {
			buf = s.AppendDense(buf[:0])
		}
		b.SetBytes(DenseSize)
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		enc := benchSketch(n).AppendRedis(nil)
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				if _, err := Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
