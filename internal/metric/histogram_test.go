package metric

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHistogramAgainstSorted: histograms of random parts, merged in any order, answer every rank as
// the sorted values of the whole do.
func TestHistogramAgainstSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 300 {
		var all []int64
		var h Histogram
		for range rng.IntN(6) {
			part := make([]int64, rng.IntN(50))
			for i := range part {
				part[i] = rng.Int64N(1+rng.Int64N(100)) - 20
			}
			all = append(all, part...)
			if rng.IntN(2) == 0 {
				p := HistogramOf(slices.Clone(part))
				h.Merge(&p)
				continue
			}
			var p Histogram
			for _, v := range part {
				p.Add(v)
			}
			for range rng.IntN(minPending * 3) { // past compactions
				v := rng.Int64N(1 << 40)
				p.Add(v)
				all = append(all, v)
			}
			h.Merge(&p)
		}
		slices.Sort(all)
		if h.N() != int64(len(all)) {
			t.Fatalf("trial %d: N = %d, want %d", trial, h.N(), len(all))
		}
		for r := range all {
			if len(all) > 200 && r%97 != 0 && r != len(all)-1 {
				continue
			}
			if got := h.At(int64(r + 1)); got != all[r] {
				t.Fatalf("trial %d: At(%d) = %d, want %d", trial, r+1, got, all[r])
			}
		}
		if len(all) > 0 {
			for _, p := range []float64{0.01, 0.5, 0.95, 1} {
				f := make([]float64, len(all))
				for i, v := range all {
					f[i] = float64(v)
				}
				if got, want := float64(h.At(int64(NearestRankIndex(len(all), p)))), NearestRank(f, p); got != want {
					t.Fatalf("trial %d: p%v = %v, NearestRank %v", trial, p, got, want)
				}
			}
		}
	}
}
