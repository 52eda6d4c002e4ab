package metric

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// naiveEta is η² by the textbook's two passes in floats: grand mean, group means, sums of squares.
func naiveEta(groups [][]int64) (float64, bool) {
	var n, sum float64
	for _, g := range groups {
		for _, v := range g {
			n++
			sum += float64(v)
		}
	}
	mean := sum / n
	var total, between float64
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		var gs float64
		for _, v := range g {
			gs += float64(v)
			total += (float64(v) - mean) * (float64(v) - mean)
		}
		gm := gs / float64(len(g))
		between += float64(len(g)) * (gm - mean) * (gm - mean)
	}
	if n == 0 || total == 0 {
		return 0, false
	}
	return between / total, true
}

func moments(groups [][]int64) []Moments {
	out := make([]Moments, len(groups))
	for i, g := range groups {
		for _, v := range g {
			out[i].Add(v)
		}
	}
	return out
}

func TestEtaSquaredAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		groups := make([][]int64, 1+rng.IntN(6))
		for i := range groups {
			shift := rng.Int64N(100_000)
			for range rng.IntN(200) {
				v := shift + rng.Int64N(1+rng.Int64N(7_200_000-shift))
				if trial%5 == 0 {
					v = 42 // constant: η² undefined
				}
				groups[i] = append(groups[i], v)
			}
		}
		got, ok := EtaSquared(moments(groups))
		want, wok := naiveEta(groups)
		if ok != wok {
			t.Fatalf("trial %d: ok %v, naive %v", trial, ok, wok)
		}
		if ok && (math.Abs(got-want) > 1e-9 || got < 0 || got > 1) {
			t.Fatalf("trial %d: η² = %v, naive %v", trial, got, want)
		}
	}
}

func TestEtaSquaredCases(t *testing.T) {
	f := func(groups [][]int64, want float64, ok bool) {
		t.Helper()
		got, gotOK := EtaSquared(moments(groups))
		if gotOK != ok || got != want {
			t.Fatalf("EtaSquared(%v) = %v, %v; want %v, %v", groups, got, gotOK, want, ok)
		}
	}
	f(nil, 0, false)
	f([][]int64{{5}}, 0, false)           // one value
	f([][]int64{{5, 5}, {5}}, 0, false)   // every value equal
	f([][]int64{{1, 1}, {3, 3}}, 1, true) // groups explain everything
	f([][]int64{{1, 3}, {1, 3}}, 0, true) // groups explain nothing
	f([][]int64{{0, 2}, {4}}, 0.75, true) // mean 2; SST 4+0+4 = 8; SSB 2·1² + 1·2² = 6
}

// TestMomentsLarge: the sum of squares of 20M values of 7.2M passes 2^64 and is still exact.
func TestMomentsLarge(t *testing.T) {
	var m Moments
	for range 1000 {
		m.Add(7_200_000)
	}
	var all Moments
	for range 20_000 {
		all.Merge(m)
	}
	want := new(big.Int).Mul(big.NewInt(20_000_000), big.NewInt(7_200_000*7_200_000))
	if all.sumSq().Cmp(want) != 0 || all.N != 20_000_000 {
		t.Fatalf("sum of squares %s of %d values, want %s", all.sumSq(), all.N, want)
	}
}
