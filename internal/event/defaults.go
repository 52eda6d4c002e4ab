package event

import "time"

// Segments: every metric is also counted per value of each user dimension. Users without metadata
// have Unknown in every dimension; All names the segment of every user (and the dimension of its row).
var Dimensions = [...]string{"country", "device_type", "subscription_type"}

const (
	Unknown = "unknown"
	All     = "all"
)

// Segment is one segment value, such as {"country", "US"}; the zero Segment means every user.
type Segment struct{ Dimension, Value string }

// String is the segment's name in keys and fields: "all" or "dimension=value".
func (s Segment) String() string {
	if s == (Segment{}) {
		return All
	}
	return s.Dimension + "=" + s.Value
}

// UnknownUser is the metadata of a user without a metadata row.
func UnknownUser(id string) User {
	return User{UserID: id, Country: Unknown, DeviceType: Unknown, SubscriptionType: Unknown}
}

// DefaultLateness is the allowed lateness of events, in event time, unless --lateness says otherwise.
const DefaultLateness = 5 * time.Minute

// Default topic names (SPEC section 3).
const (
	TopicInteractions = "interactions"
	TopicUsers        = "users"
	TopicDLQ          = "ingest.dlq"
	TopicLate         = "interactions.late"
)
