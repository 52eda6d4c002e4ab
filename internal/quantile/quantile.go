// Package quantile provides a mergeable relative-error quantile sketch of non-negative integers
// (DDSketch-style logarithmic buckets).
//
// A sketch with relative accuracy α puts a value v ≥ 1 in bucket i = ⌈log_γ v⌉, γ = (1+α)/(1−α), and
// answers a quantile with the bucket's midpoint 2γ^i/(γ+1). Every value of bucket i lies in
// (γ^(i−1), γ^i], so the answer is within α·x of the exact nearest-rank value x (Masson, Rim, Lee: "DDSketch", VLDB 2019). Zeros (and negative values, which
// count as zero) have a bucket of their own and are answered exactly. Buckets hold counts, so merging
// two sketches is adding their counts: a merge equals the sketch of the union, bucket for bucket.
package quantile

import (
	"errors"
	"math"
)

// Sketch is a quantile sketch. The zero value is not usable: call New.
type Sketch struct {
	alpha    float64
	logGamma float64 // ln γ
	zeros    uint64  // values 0 (negative values count as 0)
	n        uint64  // every value added
	offset   int32   // bucket index of counts[0]
	counts   []uint64
}

// MaxAlpha bounds the relative accuracy: above it buckets are too coarse to be of use.
const MaxAlpha = 0.5

// New returns an empty sketch with relative accuracy alpha (0 < alpha ≤ MaxAlpha).
func New(alpha float64) (*Sketch, error) {
	if !(alpha > 0 && alpha <= MaxAlpha) {
		return nil, errors.New("quantile: relative accuracy must be in (0, 0.5]")
	}
	return &Sketch{alpha: alpha, logGamma: math.Log((1 + alpha) / (1 - alpha))}, nil
}

// Alpha is the sketch's relative accuracy.
func (s *Sketch) Alpha() float64 { return s.alpha }

// Count is the number of values added.
func (s *Sketch) Count() uint64 { return s.n }

// Reset empties the sketch, keeping its memory.
func (s *Sketch) Reset() {
	clear(s.counts)
	s.counts = s.counts[:0]
	s.zeros, s.n, s.offset = 0, 0, 0
}

// index is the bucket of v ≥ 1. The argument to Ceil is at most ln(2^63)/ln γ, far inside int32 for
// any α the sketch accepts.
func (s *Sketch) index(v int64) int32 { return int32(math.Ceil(math.Log(float64(v)) / s.logGamma)) }

// Add counts one value. It allocates only when the value falls outside the buckets held so far.
func (s *Sketch) Add(v int64) {
	s.n++
	if v <= 0 {
		s.zeros++
		return
	}
	s.addBucket(s.index(v), 1)
}

// addBucket adds c to bucket i, growing the held range to include it.
func (s *Sketch) addBucket(i int32, c uint64) {
	if len(s.counts) == 0 {
		s.offset = i
		s.counts = append(s.counts, c)
		return
	}
	switch {
	case i < s.offset:
		grow := int(s.offset - i)
		s.counts = append(s.counts, make([]uint64, grow)...)
		copy(s.counts[grow:], s.counts)
		clear(s.counts[:grow])
		s.offset = i
	case int(i-s.offset) >= len(s.counts):
		s.counts = append(s.counts, make([]uint64, int(i-s.offset)+1-len(s.counts))...)
	}
	s.counts[i-s.offset] += c
}

// Merge adds every value of o to s. Both must have the same relative accuracy.
func (s *Sketch) Merge(o *Sketch) error {
	if o.alpha != s.alpha {
		return errors.New("quantile: merge of sketches with different relative accuracy")
	}
	if o.n == 0 {
		return nil
	}
	s.n += o.n
	s.zeros += o.zeros
	if len(o.counts) > 0 {
		// Grow once to the union of both ranges, then add.
		s.addBucket(o.offset, 0)
		s.addBucket(o.offset+int32(len(o.counts))-1, 0)
		base := o.offset - s.offset
		for j, c := range o.counts {
			s.counts[base+int32(j)] += c
		}
	}
	return nil
}

// Rank is the nearest rank of the pct-th percentile (0 < pct ≤ 100) among n values: ⌈pct·n/100⌉,
// in integers, so that no rounding of a float product moves it; 0 when n is 0.
func Rank(pct, n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return max(1, min(n, (pct*n+99)/100))
}

// Percentile estimates the nearest-rank pct-th percentile (0 < pct ≤ 100) of the values added; ok is
// false when there are none.
func (s *Sketch) Percentile(pct uint64) (v float64, ok bool) {
	rank := Rank(pct, s.n)
	if rank == 0 {
		return 0, false
	}
	if rank <= s.zeros {
		return 0, true
	}
	seen := s.zeros
	for j, c := range s.counts {
		seen += c
		if seen >= rank {
			gamma := math.Exp(s.logGamma)
			mid := 2 * math.Exp(float64(s.offset+int32(j))*s.logGamma) / (gamma + 1)
			return mid, true
		}
	}
	panic("quantile: bucket counts do not add up") // unreachable: n is their sum
}
