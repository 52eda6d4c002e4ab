package metric

import (
	"math"
	"slices"
)

// Histogram counts integer values exactly, as sorted distinct values and their counts, so that
// nearest-rank percentiles come out as from the sorted values themselves while memory grows with
// the distinct values only. Histograms of parts (users' buckets, days) merge into the whole's.
type Histogram struct {
	values []int64 // ascending, distinct
	counts []int64 // parallel to values, each > 0
	n      int64
}

// HistogramOf counts values, which it sorts in place.
func HistogramOf(values []int64) Histogram {
	slices.Sort(values)
	var h Histogram
	for i, v := range values {
		if i == 0 || v != values[i-1] {
			h.values = append(h.values, v)
			h.counts = append(h.counts, 0)
		}
		h.counts[len(h.counts)-1]++
	}
	h.n = int64(len(values))
	return h
}

// N is the number of values counted.
func (h *Histogram) N() int64 { return h.n }

// Merge adds o's counts to h.
func (h *Histogram) Merge(o Histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 {
		*h = Histogram{values: slices.Clone(o.values), counts: slices.Clone(o.counts), n: o.n}
		return
	}
	values := make([]int64, 0, len(h.values)+len(o.values))
	counts := make([]int64, 0, cap(values))
	i, j := 0, 0
	for i < len(h.values) || j < len(o.values) {
		switch {
		case j == len(o.values) || (i < len(h.values) && h.values[i] < o.values[j]):
			values, counts = append(values, h.values[i]), append(counts, h.counts[i])
			i++
		case i == len(h.values) || o.values[j] < h.values[i]:
			values, counts = append(values, o.values[j]), append(counts, o.counts[j])
			j++
		default:
			values, counts = append(values, h.values[i]), append(counts, h.counts[i]+o.counts[j])
			i, j = i+1, j+1
		}
	}
	h.values, h.counts, h.n = values, counts, h.n+o.n
}

// At is the value of rank r (from 1, ascending; 1 ≤ r ≤ N).
func (h *Histogram) At(r int64) int64 {
	for i, c := range h.counts {
		if r <= c {
			return h.values[i]
		}
		r -= c
	}
	return h.values[len(h.values)-1]
}

// NearestRankIndex is the rank (from 1) that NearestRank picks of n values for the p-quantile.
func NearestRankIndex(n int, p float64) int {
	return max(1, min(int(math.Ceil(p*float64(n))), n))
}
