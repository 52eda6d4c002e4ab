package event

import "time"

// Segments: every metric is also counted per value of each user dimension. Users without metadata
// have Unknown in every dimension; All names the segment of every user (and the dimension of its row).
var Dimensions = [...]string{"country", "device_type", "subscription_type"}

const (
	Unknown = "unknown"
	All     = "all"
)

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
