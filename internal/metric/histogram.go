package metric

import (
	"math"
	"slices"
)

// Histogram counts integer values exactly, as sorted distinct values and their counts, so that
// nearest-rank percentiles come out as from the sorted values themselves while memory grows with
// the distinct values only. Histograms of parts (users' buckets, days) merge into the whole's.
type Histogram struct {
	values  []int64 // ascending, distinct
	counts  []int64 // parallel to values, each > 0
	n       int64   // values counted, pending ones included
	pending []int64 // added since the last compaction
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

// Add counts v. Values wait in a buffer as long as the distinct values (at least minPending), so
// counting n values costs O(n log n) however many of them are distinct.
func (h *Histogram) Add(v int64) {
	h.pending = append(h.pending, v)
	h.n++
	if len(h.pending) >= max(minPending, len(h.values)) {
		h.compact()
	}
}

const minPending = 1 << 12

func (h *Histogram) compact() {
	if len(h.pending) == 0 {
		return
	}
	p := HistogramOf(h.pending)
	h.pending = h.pending[:0]
	h.n -= p.n // merge counts them again
	h.merge(&p)
}

// N is the number of values counted.
func (h *Histogram) N() int64 { return h.n }

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	o.compact()
	h.compact()
	h.merge(o)
}

func (h *Histogram) merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if len(h.values) == 0 {
		h.values, h.counts, h.n = slices.Clone(o.values), slices.Clone(o.counts), h.n+o.n
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
	h.compact()
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
