// Package rtstate defines the values of the real-time state: what the consumer checkpoints and the
// API reads, apart from where they are stored (internal/rtstore keeps them in Redis).
package rtstate

import (
	"errors"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/quantile"
)

// ErrFenced means the stored offset is not the one this owner last read or wrote: another consumer
// took the partition over, so this owner must drop its state.
var ErrFenced = errors.New("rtstate: checkpoint fenced by another owner")

// ErrCheckpointBehind means the store holds an older checkpoint of this owner's own than the one it
// last wrote, or none where it read or wrote one: the store lost writes it had acknowledged (a Redis
// failover to a replica they had not reached, a restore of an older RDB or AOF file). No other owner
// wrote since, and the metric keys lost the same checkpoints, as each is one atomic step, so the
// owner may reload the stored checkpoint and replay the rest from Kafka. A loss that reaches back to
// a checkpoint of the previous owner cannot be told from a takeover: that is ErrFenced.
var ErrCheckpointBehind = errors.New("rtstate: stored checkpoint behind the one this owner wrote")

// Segment is one segment value, such as {"country", "US"}; the zero Segment means every user.
type Segment struct{ Dimension, Value string }

// String is the segment's name in keys and fields: "all" or "dimension=value".
func (s Segment) String() string {
	if s == (Segment{}) {
		return event.All
	}
	return s.Dimension + "=" + s.Value
}

// Checkpoint is a partition's stored position and open state.
type Checkpoint struct {
	Offset   int64  // next offset to consume; -1 when the partition never checkpointed
	Owner    string // token of the consumer that wrote it
	Snapshot []byte // sessionwindow snapshot; nil when none
}

// Counts are the integers of one day and segment.
type Counts struct {
	Sessions metric.Sessions // closed sessions starting that day
	Valid    int64           // valid events, late ones included
	Late     int64
	// Rule-invalid events by reason.
	UnknownAction, DurationOutOfRange, Duplicate int64
}

// Cell is one day and segment's change since the previous checkpoint.
type Cell struct {
	Day     int32
	Segment Segment
	Users   []byte // Redis HyperLogLog string of the users seen; nil for none
	Counts  Counts
}

// Commit is one checkpoint of a partition.
type Commit struct {
	Partition int32
	Expect    int64  // stored offset this owner last read or wrote; -1 for none
	Offset    int64  // next offset to consume after this checkpoint
	Owner     string // this owner's token
	Snapshot  []byte
	// Closed is the first day the partition has not closed: every session of an earlier day is in
	// this checkpoint or an earlier one, and any further event of such a day is late. Roll-ups
	// wait for every partition to close a day.
	Closed   int32
	Cells    []Cell
	Versions []VersionCell // page views per day and app version
	Engaged  []EngagedUser // per-user changes of the power-user state, grouped by month
}

// VersionAlpha is the relative accuracy of the page-view sketches per day and app version: the API's
// percentiles are within 0.5% of the exact nearest-rank values, half the contract's 1%.
const VersionAlpha = 0.005

// VersionCell is one day and app version's change since the previous checkpoint.
type VersionCell struct {
	Day       int32
	Version   string
	Events    int64  // valid events
	PageViews int64  // of which page views
	Sketch    []byte // quantile text form of the page views' durations (VersionAlpha)
}

// Version is a day and app version's numbers, summed over every partition.
type Version struct {
	Events    int64
	PageViews int64
	Sketch    *quantile.Sketch // page-view durations
}

// EngagedUser is one user's engaged time and valid events in Month since the previous checkpoint.
// A commit lists a month's users next to each other.
type EngagedUser struct {
	Month     string // YYYY-MM
	UserID    string
	EngagedMs int64
	Events    int64
}
