package quantile

import (
	"errors"
	"math"
	"strconv"
)

// The text form of a sketch's counts, which Redis scripts can parse and add up: decimal integers
// separated by commas, "zeros,first,c1,c2,…": the count of zeros, the index of the first bucket held
// and each bucket's count from there, empty buckets between included but none at either end (so one
// set of values has one form however its sketch was built). Without buckets it is "zeros,0". The
// relative accuracy is not part of it: both sides must agree on it.

var errCorrupt = errors.New("quantile: corrupt sketch text")

// MaxBuckets bounds a parsed sketch: α = 1e-4 needs ln(2^63)/ln γ ≈ 218,000 buckets for every int64,
// and the bound keeps a corrupt text from allocating without end.
const MaxBuckets = 1 << 20

// AppendText appends the sketch's text form to b.
func (s *Sketch) AppendText(b []byte) []byte {
	lo, hi := 0, len(s.counts) // a merge may leave empty buckets at the ends
	for lo < hi && s.counts[lo] == 0 {
		lo++
	}
	for hi > lo && s.counts[hi-1] == 0 {
		hi--
	}
	b = strconv.AppendUint(b, s.zeros, 10)
	b = append(b, ',')
	if lo == hi {
		return append(b, '0')
	}
	b = strconv.AppendInt(b, int64(s.offset)+int64(lo), 10)
	for _, c := range s.counts[lo:hi] {
		b = append(b, ',')
		b = strconv.AppendUint(b, c, 10)
	}
	return b
}

// AddText adds the counts of a text form to s, as a Merge of the sketch it describes would. On an
// error s is unchanged.
func (s *Sketch) AddText(text []byte) error {
	var nums []uint64
	var first int64
	field := 0
	for i := 0; i <= len(text); field++ {
		j := i
		for j < len(text) && text[j] != ',' {
			j++
		}
		tok := text[i:j]
		if len(tok) == 0 || len(tok) > 20 || (len(tok) > 1 && tok[0] == '0') || len(nums) > MaxBuckets {
			return errCorrupt
		}
		v, err := strconv.ParseUint(string(tok), 10, 64)
		switch {
		case err != nil:
			return errCorrupt
		case field == 1:
			first = int64(min(v, math.MaxInt32+1)) // bucket indices of values ≥ 1 are ≥ 0
		default:
			nums = append(nums, v)
		}
		i = j + 1
	}
	if field < 2 { // zeros and first at least
		return errCorrupt
	}
	zeros, counts := nums[0], nums[1:]
	switch {
	case len(counts) == 0 && first != 0,
		len(counts) > 0 && (counts[0] == 0 || counts[len(counts)-1] == 0),
		first+int64(len(counts)) > math.MaxInt32:
		return errCorrupt
	}
	total := zeros
	for _, c := range counts {
		if total+c < total {
			return errCorrupt
		}
		total += c
	}
	if s.n+total < s.n {
		return errCorrupt
	}
	s.n += total
	s.zeros += zeros
	if len(counts) > 0 {
		s.addBucket(int32(first), 0)
		s.addBucket(int32(first+int64(len(counts))-1), 0)
		base := int32(first) - s.offset
		for j, c := range counts {
			s.counts[base+int32(j)] += c
		}
	}
	return nil
}
