package event

import "fmt"

// Reason says why a row or event does not count. OK means it counts.
type Reason uint8

const (
	OK Reason = iota

	// Unreadable rows, rejected at ingest and dead-lettered.
	Malformed
	FieldTooLong
	MissingUserID
	BadTimestamp
	BadDuration
	BadDate

	// Rule-invalid events: readable, kept in bronze, left out of every metric.
	UnknownAction
	DurationOutOfRange
	Duplicate

	// Late events count as active users but are left out of real-time session metrics.
	Late

	numReasons
)

var reasonNames = [numReasons]string{
	OK:                 "ok",
	Malformed:          "malformed",
	FieldTooLong:       "field_too_long",
	MissingUserID:      "missing_user_id",
	BadTimestamp:       "bad_timestamp",
	BadDuration:        "bad_duration",
	BadDate:            "bad_date",
	UnknownAction:      "unknown_action",
	DurationOutOfRange: "duration_out_of_range",
	Duplicate:          "duplicate",
	Late:               "late",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// ParseReason is the inverse of String.
func ParseReason(s string) (Reason, error) {
	for r, name := range reasonNames {
		if name == s {
			return Reason(r), nil
		}
	}
	return 0, fmt.Errorf("event: unknown reason %q", s)
}

// Unreadable reports whether r rejects a row at ingest (it goes to the dead-letter topic).
func (r Reason) Unreadable() bool { return r >= Malformed && r <= BadDate }

// RuleInvalid reports whether r marks a readable event that does not count.
func (r Reason) RuleInvalid() bool { return r >= UnknownAction && r <= Duplicate }
