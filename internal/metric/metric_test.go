package metric

import "testing"

func TestSessions(t *testing.T) {
	var s Sessions
	if s.AvgDurationS() != 0 || s.AvgActions() != 0 {
		t.Fatal("empty aggregate must give zeros")
	}
	s.Add(1500, 3)
	s.Add(0, 1)
	if got := s.AvgDurationS(); got != 0.75 {
		t.Fatalf("AvgDurationS = %v, want 0.75", got)
	}
	if got := s.AvgActions(); got != 2 {
		t.Fatalf("AvgActions = %v, want 2", got)
	}
}

func TestNearestRank(t *testing.T) {
	f := func(in []float64, p, want float64) {
		t.Helper()
		if got := NearestRank(append([]float64(nil), in...), p); got != want {
			t.Fatalf("NearestRank(%v, %v) = %v, want %v", in, p, got, want)
		}
	}
	f(nil, 0.5, 0)
	f([]float64{7}, 0.95, 7)
	f([]float64{4, 1, 3, 2}, 0.5, 2)  // rank ⌈2⌉ = 2
	f([]float64{4, 1, 3, 2}, 0.95, 4) // rank ⌈3.8⌉ = 4
	f([]float64{1, 2, 3, 4, 5}, 0.5, 3)
	if Ratio(1, 0) != 0 || Ratio(1, 4) != 0.25 {
		t.Fatal("Ratio is wrong")
	}
}
