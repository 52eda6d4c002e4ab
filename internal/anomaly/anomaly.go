// Package anomaly scores a day's count against the same weekday of the weeks before it with a robust
// z-score (SPEC section 9).
package anomaly

import (
	"math"
	"slices"
)

// The rule's constants.
const (
	Weeks        = 8   // the reference is the same weekday in this many weeks before the day
	MinReference = 4   // reference days needed inside the lake's days
	MinExpected  = 20  // an anomaly needs a median of at least this
	Threshold    = 5.0 // |z| at least this is an anomaly
)

// Score is a day's value against its reference.
type Score struct {
	Observed float64
	Expected float64 // M: the reference values' median
	MAD      float64 // median of |x − M| over the reference values
	Scale    float64 // 1.4826·MAD, or 1.2533·mean|x − M| when MAD is 0, and at least √M
	Z        float64 // (Observed − M) / Scale; 0 when Scale is 0
}

// Of scores x against the reference values ref; ok is false when ref has fewer than MinReference.
func Of(x float64, ref []float64) (s Score, ok bool) {
	if len(ref) < MinReference {
		return Score{}, false
	}
	s.Observed = x
	s.Expected = median(slices.Clone(ref))
	dev := make([]float64, len(ref))
	var sum float64
	for i, r := range ref {
		dev[i] = math.Abs(r - s.Expected)
		sum += dev[i]
	}
	s.MAD = median(dev)
	if s.MAD > 0 {
		s.Scale = 1.4826 * s.MAD
	} else {
		s.Scale = 1.2533 * sum / float64(len(dev))
	}
	s.Scale = max(s.Scale, math.Sqrt(s.Expected))
	if s.Scale > 0 {
		s.Z = (x - s.Expected) / s.Scale
	}
	return s, true
}

// Anomaly says whether the score is an anomaly: |z| ≥ Threshold where M ≥ MinExpected.
func (s Score) Anomaly() bool { return s.Expected >= MinExpected && math.Abs(s.Z) >= Threshold }

// Direction is "spike" above the expected value and "drop" below it.
func (s Score) Direction() string {
	if s.Observed > s.Expected {
		return "spike"
	}
	return "drop"
}

// median sorts v and returns its median: of an even count, the mean of the middle two.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
