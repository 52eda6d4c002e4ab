// Package metric turns session aggregates into the contract's daily metrics, one formula for stream and lake.
package metric

import "slices"

// Sessions aggregates closed sessions of one day (and segment). The stream keeps it in Redis as three
// integers and the lake computes it from silver sessions; the same integers give the same floats.
type Sessions struct {
	Count      int64
	DurationMs int64 // sum of end − start
	Actions    int64
}

// Add counts one session.
func (s *Sessions) Add(durationMs, actions int64) {
	s.Count++
	s.DurationMs += durationMs
	s.Actions += actions
}

// AvgDurationS is avg_session_duration_s; 0 without sessions.
func (s Sessions) AvgDurationS() float64 {
	if s.Count == 0 {
		return 0
	}
	return float64(s.DurationMs) / 1000 / float64(s.Count)
}

// AvgActions is avg_actions_per_session; 0 without sessions.
func (s Sessions) AvgActions() float64 {
	if s.Count == 0 {
		return 0
	}
	return float64(s.Actions) / float64(s.Count)
}

// DurationS is a session's duration_s: end − start in seconds, millisecond precision.
func DurationS(startMs, endMs int64) float64 { return float64(endMs-startMs) / 1000 }

// Ratio is a/b, or 0 when b is 0 (stickiness, sessions_per_user).
func Ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// NearestRank returns the p-quantile (0 < p ≤ 1) of durations by the nearest-rank method: the value at
// rank ⌈p·n⌉ in ascending order. It sorts durations in place; 0 for none.
func NearestRank(durations []float64, p float64) float64 {
	if len(durations) == 0 {
		return 0
	}
	if !slices.IsSorted(durations) {
		slices.Sort(durations)
	}
	return durations[NearestRankIndex(len(durations), p)-1]
}
