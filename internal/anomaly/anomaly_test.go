package anomaly

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// naive restates the rule the slow way: medians by counting how many values lie below and above.
func naive(x float64, ref []float64) (m, mad, z float64, ok bool) {
	if len(ref) < 4 {
		return 0, 0, 0, false
	}
	med := func(v []float64) float64 {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		if len(s)%2 == 0 {
			return (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
		return s[len(s)/2]
	}
	m = med(ref)
	var dev []float64
	mean := 0.0
	for _, r := range ref {
		dev = append(dev, math.Abs(r-m))
		mean += math.Abs(r-m) / float64(len(ref))
	}
	mad = med(dev)
	scale := 1.4826 * mad
	if mad == 0 {
		scale = 1.2533 * mean
	}
	if scale < math.Sqrt(m) {
		scale = math.Sqrt(m)
	}
	if scale > 0 {
		z = (x - m) / scale
	}
	return m, mad, z, true
}

func TestAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		ref := make([]float64, rng.IntN(9)) // 0 … 8 reference weeks
		base := float64(rng.IntN(500))
		for i := range ref {
			switch rng.IntN(3) {
			case 0:
				ref[i] = base // repeats make MAD 0 often
			default:
				ref[i] = float64(rng.IntN(1000))
			}
		}
		x := float64(rng.IntN(1500))
		s, ok := Of(x, ref)
		m, mad, z, nok := naive(x, ref)
		if ok != nok {
			t.Fatalf("Of(%v, %v) ok = %v, want %v", x, ref, ok, nok)
		}
		if !ok {
			continue
		}
		if s.Expected != m || s.MAD != mad || math.Abs(s.Z-z) > 1e-12*math.Max(1, math.Abs(z)) {
			t.Fatalf("Of(%v, %v) = %+v, want M %v MAD %v z %v", x, ref, s, m, mad, z)
		}
		if want := m >= 20 && math.Abs(z) >= 5; s.Anomaly() != want {
			t.Fatalf("Of(%v, %v).Anomaly() = %v, want %v", x, ref, s.Anomaly(), want)
		}
	}
}

func TestCases(t *testing.T) {
	f := func(x float64, ref []float64, ok, anomaly bool, dir string, z float64) {
		t.Helper()
		s, gotOK := Of(x, ref)
		if gotOK != ok {
			t.Fatalf("Of(%v, %v): ok = %v, want %v", x, ref, gotOK, ok)
		}
		if !ok {
			return
		}
		if s.Anomaly() != anomaly || (anomaly && s.Direction() != dir) || math.Abs(s.Z-z) > 1e-9 {
			t.Fatalf("Of(%v, %v) = %+v anomaly %v %s, want anomaly %v %s z %v", x, ref, s, s.Anomaly(), s.Direction(), anomaly, dir, z)
		}
	}
	// Too little history: three reference weeks are not enough, whatever the value.
	f(0, []float64{100, 100, 100}, false, false, "", 0)
	// MAD 0 with every reference equal: the mean deviation is 0 too, so √M is the scale.
	f(150, []float64{100, 100, 100, 100}, true, true, "spike", 5)
	f(149, []float64{100, 100, 100, 100}, true, false, "", 4.9)
	// MAD 0 but not all equal: 1.2533 × mean|x − M| = 1.2533 × 200 / 5 = 50.132 > √400.
	f(200, []float64{400, 400, 400, 500, 300}, true, false, "", -200/50.132)
	f(100, []float64{400, 400, 400, 500, 300}, true, true, "drop", -300/50.132)
	// An outage: a day of 0 against a steady series is a drop.
	f(0, []float64{1000, 1010, 990, 1005, 995, 1000, 1002, 998}, true, true, "drop", -1000/math.Max(1.4826*2.5, math.Sqrt(1000)))
	// Below the support threshold: M = 19 is never an anomaly, however far off x is.
	f(1000, []float64{19, 19, 19, 19}, true, false, "", (1000-19)/math.Sqrt(19))
	// M of an even count is the mean of the middle two; MAD = median(|x−M|) = median(5,5,5,5) = 5.
	f(30, []float64{20, 30, 20, 30}, true, false, "", 5/math.Max(1.4826*5, 5))
	// Robust: one wild reference week does not hide a spike.
	f(400, []float64{100, 102, 98, 100, 101, 99, 100, 5000}, true, true, "spike", 300/math.Max(1.4826*1, 10))
}
