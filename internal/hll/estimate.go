package hll

import "math"

// alphaInf is Redis's HLL_ALPHA_INF, 0.5/ln(2).
const alphaInf = 0.721347520444481703680

// estimate is Redis's hllCount after the register histogram: Otmar Ertl's improved estimator
// ("New cardinality estimation algorithms for HyperLogLog sketches", arXiv:1702.01284).
//
// It must round exactly as Redis's C does, so every product that is added is converted with
// float64(...) first: Go may otherwise fuse it into a multiply-add, which Redis's amd64 build never
// does.
func estimate(histo *[64]int) uint64 {
	const m = float64(NumRegisters)
	// The quotient too: the compiler turns /m into a product, which inlining could fuse with 1-x in tau.
	z := m * tau(float64((m-float64(histo[q+1]))/m))
	for j := q; j >= 1; j-- {
		z += float64(histo[j])
		z *= 0.5
	}
	z += float64(m * sigma(float64(histo[0])/m))
	// llroundl rounds half away from zero, as math.Round does. Redis keeps its long long in a double
	// and casts that to uint64, so an estimate past the int64 range (or infinite, when every register
	// is above q) comes out as 2^63. Only registers that hashing cannot produce get there.
	e := math.Round(alphaInf * m * m / z)
	if e >= 1<<63 {
		return 1 << 63
	}
	return uint64(e)
}

// sigma is Redis's hllSigma.
func sigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y := 1.0
	z := x
	for {
		x *= x
		prev := z
		z += float64(x * y)
		y += y
		if z == prev {
			return z
		}
	}
}

// tau is Redis's hllTau. Redis writes pow(1-x, 2), which C compilers turn into (1-x)*(1-x).
func tau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y := 1.0
	z := 1 - x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		d := float64((1 - x) * (1 - x))
		z -= float64(d * y)
		if z == prev {
			return z / 3
		}
	}
}
