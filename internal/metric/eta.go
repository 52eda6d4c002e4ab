package metric

import (
	"math/big"
	"math/bits"
)

// Moments accumulates a group's count, sum and sum of squares of non-negative integers, exactly:
// the sum of squares of a month of page views passes 2^64, so it is kept in 128 bits.
type Moments struct {
	N     int64
	Sum   int64
	sqHi  uint64
	sqLow uint64
}

// Add counts one value v ≥ 0.
func (m *Moments) Add(v int64) {
	m.N++
	m.Sum += v
	hi, lo := bits.Mul64(uint64(v), uint64(v))
	var carry uint64
	m.sqLow, carry = bits.Add64(m.sqLow, lo, 0)
	m.sqHi += hi + carry
}

// Merge adds o's values to m.
func (m *Moments) Merge(o Moments) {
	m.N += o.N
	m.Sum += o.Sum
	var carry uint64
	m.sqLow, carry = bits.Add64(m.sqLow, o.sqLow, 0)
	m.sqHi += o.sqHi + carry
}

// Mean is Sum/N; 0 for no values.
func (m Moments) Mean() float64 { return Ratio(m.Sum, m.N) }

func (m Moments) sumSq() *big.Int {
	s := new(big.Int).SetUint64(m.sqHi)
	s.Lsh(s, 64)
	return s.Or(s, new(big.Int).SetUint64(m.sqLow))
}

// EtaSquared is the correlation ratio η² of the values on their groups: the between-group sum of
// squares over the total sum of squares, computed in exact rational arithmetic and rounded once, so
// it does not depend on the order of the groups or values. ok is false when the total sum of squares
// is 0 (no values, or every value equal).
//
// With N values of sum S and sum of squares Q, and groups g of n_g values summing to S_g:
// N·SS_total = N·Q − S² and N·SS_between = N·Σ S_g²/n_g − S².
func EtaSquared(groups []Moments) (eta float64, ok bool) {
	var total Moments
	between := new(big.Rat)
	for _, g := range groups {
		if g.N == 0 {
			continue
		}
		total.Merge(g)
		sg := big.NewInt(g.Sum)
		between.Add(between, new(big.Rat).SetFrac(sg.Mul(sg, sg), big.NewInt(g.N)))
	}
	n := big.NewInt(total.N)
	s2 := big.NewInt(total.Sum)
	s2.Mul(s2, s2)
	den := new(big.Int).Mul(n, total.sumSq())
	den.Sub(den, s2)
	if den.Sign() <= 0 {
		return 0, false
	}
	num := between.Mul(between, new(big.Rat).SetInt(n))
	num.Sub(num, new(big.Rat).SetInt(s2))
	eta, _ = num.Quo(num, new(big.Rat).SetInt(den)).Float64()
	return eta, true
}
