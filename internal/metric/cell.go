package metric

import "github.com/notestream/notestream/internal/event"

// Counts are the integers of one day and segment.
type Counts struct {
	Sessions Sessions // closed sessions starting that day
	Valid    int64    // valid events, late ones included
	Late     int64
	// Rule-invalid events by reason.
	UnknownAction, DurationOutOfRange, Duplicate int64
}

// Cell is one day and segment's aggregates: a consumer's change since its previous checkpoint, or
// a day that reseed restores whole from the lake.
type Cell struct {
	Day     int32
	Segment event.Segment
	Users   []byte // Redis HyperLogLog string of the users seen; nil for none
	Counts  Counts
}
