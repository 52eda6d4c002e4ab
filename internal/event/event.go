// Package event defines the interaction and user records and the rules that decide whether an event counts.
package event

// Interaction is one readable row of user_interactions, normalised: fields trimmed, time in UTC.
type Interaction struct {
	UserID     string
	Time       int64 // Unix milliseconds, UTC
	Action     string
	PageID     string
	DurationMs int64
	AppVersion string
}

// User is one readable row of user_metadata. JoinDate is YYYY-MM-DD.
type User struct {
	UserID           string
	JoinDate         string
	Country          string
	DeviceType       string
	SubscriptionType string
}

// MaxDurationMs is the longest duration_ms a valid event may carry (2 hours).
const MaxDurationMs = 7_200_000

// Actions lists the valid action types in their stored, lower-case form.
var Actions = [...]string{"page_view", "edit", "create", "delete", "share"}

// CanonicalAction returns the stored form of action, compared case-insensitively, and whether it is known.
// It does not allocate. The length picks the one candidate, so exact lower-case input costs one compare.
func CanonicalAction(action string) (string, bool) {
	var a string
	switch len(action) {
	case 4:
		a = "edit"
	case 5:
		a = "share"
	case 6:
		a = "delete"
		if action[0]|0x20 == 'c' {
			a = "create"
		}
	case 9:
		a = "page_view"
	default:
		return "", false
	}
	if action == a || equalFold(action, a) {
		return a, true
	}
	return "", false
}

// equalFold is strings.EqualFold for a lower-case ASCII target, without its Unicode work.
func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// Check applies the per-event rules of the contract in order (unknown action, then duration range).
// On OK it replaces in.Action with its canonical lower-case form. Duplicates are found by the caller,
// which alone knows which events came earlier.
func Check(in *Interaction) Reason {
	a, ok := CanonicalAction(in.Action)
	if !ok {
		return UnknownAction
	}
	if in.DurationMs < 0 || in.DurationMs > MaxDurationMs {
		return DurationOutOfRange
	}
	in.Action = a
	return OK
}
