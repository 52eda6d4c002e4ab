package quantile

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// nearestRank is the naive reference: sort, take the value at rank ⌈pct·n/100⌉.
func nearestRank(values []int64, pct int) int64 {
	s := slices.Clone(values)
	slices.Sort(s)
	for i, v := range s {
		if (i+1)*100 >= pct*len(s) { // the first rank r with r ≥ pct·n/100
			return max(v, 0)
		}
	}
	panic("no values")
}

var percentiles = []int{1, 5, 25, 50, 75, 90, 95, 99, 100}

// checkBound checks every percentile of s against the exact nearest-rank value of values.
func checkBound(t *testing.T, name string, s *Sketch, values []int64) {
	t.Helper()
	for _, p := range percentiles {
		got, ok := s.Percentile(uint64(p))
		if !ok {
			t.Fatalf("%s: p%d: no answer for %d values", name, p, len(values))
		}
		want := float64(nearestRank(values, p))
		// α exactly at a bucket's edge, plus the rounding of the float arithmetic.
		if math.Abs(got-want) > s.Alpha()*want*(1+1e-9) {
			t.Fatalf("%s: p%d = %v, exact %v: relative error %.5f > α = %v", name, p, got, want, math.Abs(got-want)/want, s.Alpha())
		}
	}
}

func mustNew(t testing.TB, alpha float64) *Sketch {
	t.Helper()
	s, err := New(alpha)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// inputs are random and adversarial value sets.
func inputs(rng *rand.Rand) map[string][]int64 {
	in := map[string][]int64{
		"single":   {12345},
		"one":      {1},
		"zero":     {0},
		"constant": slices.Repeat([]int64{7000}, 1000),
		"zeros":    slices.Repeat([]int64{0}, 100),
		"negative": {-5, -1, 0, 3},
		"extremes": {0, 1, math.MaxInt64, math.MaxInt64 - 1, 2},
		"two":      {1, 7_200_000},
	}
	var uniform, heavy, mixed, small, bimodal []int64
	for range 20_000 {
		uniform = append(uniform, rng.Int64N(7_200_001))
		heavy = append(heavy, int64(100/math.Pow(1-rng.Float64(), 1.5))) // Pareto, α = 2/3: infinite mean
		switch rng.IntN(4) {
		case 0:
			mixed = append(mixed, 0)
		default:
			mixed = append(mixed, int64(math.Exp(rng.NormFloat64()*2+8)))
		}
		small = append(small, rng.Int64N(20))
		if rng.IntN(10) == 0 {
			bimodal = append(bimodal, 5_000_000+rng.Int64N(10))
		} else {
			bimodal = append(bimodal, 10+rng.Int64N(10))
		}
	}
	in["uniform"], in["heavy"], in["mixed"], in["small"], in["bimodal"] = uniform, heavy, mixed, small, bimodal
	// Bucket edges: powers of γ and their neighbours, where rounding in the index could misplace a value.
	gamma := (1 + 0.005) / (1 - 0.005)
	var edges []int64
	for x := 1.0; x < 1e12; x *= gamma {
		edges = append(edges, int64(x), int64(x)+1, int64(math.Ceil(x)))
	}
	in["edges"] = edges
	return in
}

func TestPercentileWithinBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, alpha := range []float64{0.001, 0.005, 0.01, 0.05} {
		for name, values := range inputs(rng) {
			s := mustNew(t, alpha)
			for _, v := range values {
				s.Add(v)
			}
			if s.Count() != uint64(len(values)) {
				t.Fatalf("%s: count %d, want %d", name, s.Count(), len(values))
			}
			checkBound(t, name, s, values)
		}
	}
}

// TestEveryPrefix checks the bound after every value of a small random stream, so that every rank
// of small sets is exercised.
func TestEveryPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := mustNew(t, 0.005)
	var values []int64
	for range 600 {
		v := rng.Int64N(100_000)
		if rng.IntN(5) == 0 {
			v = 0
		}
		values = append(values, v)
		s.Add(v)
		checkBound(t, "prefix", s, values)
	}
}

func TestEmpty(t *testing.T) {
	s := mustNew(t, 0.01)
	if _, ok := s.Percentile(50); ok {
		t.Fatal("an empty sketch answered")
	}
	for _, a := range []float64{0, -0.1, 0.51, math.NaN(), math.Inf(1)} {
		if _, err := New(a); err == nil {
			t.Fatalf("New(%v) accepted", a)
		}
	}
}

func TestRank(t *testing.T) {
	f := func(pct, n, want uint64) {
		t.Helper()
		if got := Rank(pct, n); got != want {
			t.Fatalf("Rank(%d, %d) = %d, want %d", pct, n, got, want)
		}
	}
	f(50, 0, 0)
	f(50, 1, 1)
	f(95, 20, 19) // exactly 19: a float product 0.95·20 may not be
	f(95, 21, 20)
	f(99, 100, 99)
	f(99, 101, 100)
	f(100, 7, 7)
	f(1, 7, 1)
	for n := uint64(1); n < 2000; n++ {
		for _, p := range []uint64{50, 95, 99} {
			if r := Rank(p, n); r*100 < p*n || (r-1)*100 >= p*n {
				t.Fatalf("Rank(%d, %d) = %d is not ⌈p·n/100⌉", p, n, r)
			}
		}
	}
}

// TestMergeEqualsUnion: merging sketches of parts, in any grouping, gives the sketch of the whole,
// encoding for encoding.
func TestMergeEqualsUnion(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for name, values := range inputs(rng) {
		whole := mustNew(t, 0.005)
		for _, v := range values {
			whole.Add(v)
		}
		parts := make([]*Sketch, 1+rng.IntN(6))
		for i := range parts {
			parts[i] = mustNew(t, 0.005)
		}
		for _, v := range values {
			parts[rng.IntN(len(parts))].Add(v)
		}
		merged := mustNew(t, 0.005)
		for _, i := range rng.Perm(len(parts)) {
			if err := merged.Merge(parts[i]); err != nil {
				t.Fatal(err)
			}
		}
		if string(merged.AppendText(nil)) != string(whole.AppendText(nil)) {
			t.Fatalf("%s: merge of %d parts differs from the sketch of the union", name, len(parts))
		}
		for _, p := range percentiles {
			a, _ := merged.Percentile(uint64(p))
			b, _ := whole.Percentile(uint64(p))
			if a != b {
				t.Fatalf("%s: p%d merged %v, whole %v", name, p, a, b)
			}
		}
	}
	a, b := mustNew(t, 0.005), mustNew(t, 0.01)
	b.Add(1)
	if err := a.Merge(b); err == nil {
		t.Fatal("merged sketches of different accuracy")
	}
}

// text is the sketch's text form, parsed back into a new sketch.
func text(t testing.TB, s *Sketch) (string, *Sketch) {
	t.Helper()
	enc := s.AppendText(nil)
	d := mustNew(t, s.Alpha())
	if err := d.AddText(enc); err != nil {
		t.Fatalf("AddText(%q): %v", enc, err)
	}
	return string(enc), d
}

func TestTextRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	check := func(name string, s *Sketch) {
		t.Helper()
		enc, d := text(t, s)
		if string(d.AppendText(nil)) != enc || d.Count() != s.Count() {
			t.Fatalf("%s: round trip changed the sketch: %q", name, enc)
		}
		for _, p := range percentiles {
			a, _ := d.Percentile(uint64(p))
			b, _ := s.Percentile(uint64(p))
			if a != b {
				t.Fatalf("%s: p%d parsed %v, original %v", name, p, a, b)
			}
		}
	}
	check("empty", mustNew(t, 0.005))
	for name, values := range inputs(rng) {
		s := mustNew(t, 0.005)
		for _, v := range values {
			s.Add(v)
		}
		check(name, s)
	}
	s := mustNew(t, 0.005)
	s.Add(5)
	s.Reset()
	check("reset", s)
	if enc, _ := text(t, s); enc != "0,0" {
		t.Fatalf("empty sketch text %q, want 0,0", enc)
	}
	s.Add(0)
	s.Add(1)
	s.Add(1)
	if enc, _ := text(t, s); enc != "1,0,2" {
		t.Fatalf("text %q, want 1,0,2", enc)
	}
	// Adding texts is merging: the sum of the parts' texts is the whole's.
	a, b, whole := mustNew(t, 0.005), mustNew(t, 0.005), mustNew(t, 0.005)
	for i, v := range inputs(rng)["mixed"] {
		whole.Add(v)
		[]*Sketch{a, b}[i%2].Add(v)
	}
	sum := mustNew(t, 0.005)
	for _, part := range []*Sketch{a, b} {
		if err := sum.AddText(part.AppendText(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if string(sum.AppendText(nil)) != string(whole.AppendText(nil)) {
		t.Fatal("adding the parts' texts differs from the whole")
	}
	for _, bad := range []string{"", ",", "1,", "1", "a,0", "1,0,0", "1,5,0,3", "1,5,3,0", "01,0", "1,+5,3", "1,-5,3", "0,5",
		"18446744073709551615,0,1", "1,2147483647,1,1", "1,0,18446744073709551615"} {
		s := mustNew(t, 0.005)
		if err := s.AddText([]byte(bad)); err == nil {
			t.Fatalf("AddText(%q) accepted: %q", bad, s.AppendText(nil))
		}
		if s.Count() != 0 {
			t.Fatalf("AddText(%q) failed but changed the sketch", bad)
		}
	}
}

func FuzzAddText(f *testing.F) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, values := range inputs(rng) {
		s, _ := New(0.005)
		for _, v := range values[:min(len(values), 50)] {
			s.Add(v)
		}
		f.Add(s.AppendText(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, _ := New(0.005)
		if err := s.AddText(b); err != nil {
			if s.Count() != 0 {
				t.Fatalf("AddText(%q) failed but changed the sketch", b)
			}
			return
		}
		// What parses is canonical: it prints back as the same text, and answers every percentile.
		if got := s.AppendText(nil); string(got) != string(b) {
			t.Fatalf("AddText(%q) prints back as %q", b, got)
		}
		for _, p := range percentiles {
			v, ok := s.Percentile(uint64(p))
			if ok != (s.Count() > 0) || v < 0 || math.IsNaN(v) {
				t.Fatalf("p%d = %v, %v", p, v, ok)
			}
		}
	})
}
