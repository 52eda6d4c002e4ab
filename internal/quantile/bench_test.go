package quantile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// pageViews draws durations shaped like page views: log-normal around 8 s.
func pageViews(n int) []int64 {
	rng := rand.New(rand.NewPCG(11, 12))
	v := make([]int64, n)
	for i := range v {
		v[i] = int64(math.Exp(rng.NormFloat64()*0.8 + 9))
	}
	return v
}

func BenchmarkAdd(b *testing.B) {
	values := pageViews(1 << 16)
	s, _ := New(0.005)
	for _, v := range values {
		s.Add(v) // the buckets this data needs are held from here on
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Add(values[i&(len(values)-1)])
	}
}

func BenchmarkPercentile(b *testing.B) {
	s, _ := New(0.005)
	for _, v := range pageViews(100_000) {
		s.Add(v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.Percentile(95)
	}
}

func BenchmarkMerge(b *testing.B) {
	x, _ := New(0.005)
	y, _ := New(0.005)
	for i, v := range pageViews(100_000) {
		if i%2 == 0 {
			x.Add(v)
		} else {
			y.Add(v)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		x.Merge(y)
	}
}

// BenchmarkEncode reports the text form's size for page-view-shaped data at each accuracy measured.
func BenchmarkEncode(b *testing.B) {
	for _, alpha := range []float64{0.0025, 0.005, 0.01} {
		b.Run(fmt.Sprint(alpha), func(b *testing.B) {
			s, _ := New(alpha)
			for _, v := range pageViews(100_000) {
				s.Add(v)
			}
			var buf []byte
			b.ReportAllocs()
			for range b.N {
				buf = s.AppendText(buf[:0])
			}
			b.ReportMetric(float64(len(buf)), "bytes/sketch")
		})
	}
}
