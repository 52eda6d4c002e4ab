package tables

import (
	"encoding/json"
	"fmt"
)

// StateKey is the lake object of the compactor's commit protocol that says what the lake holds.
const StateKey = "_state/state.json"

// State is what the lake has committed: the next offset to read on every partition, the interactions
// partitions' event time (for late flags), the silver days still to rebuild after a crash, and each
// bronze partition's open part. The compactor writes it; readers such as reseed check from it that the
// lake is whole and in their zone.
type State struct {
	Version  int                        `json:"version"`
	Run      int64                      `json:"run"` // committed runs
	Location string                     `json:"tz,omitempty"`
	Offsets  map[string]map[int32]int64 `json:"offsets"` // topic → partition → next offset
	MaxTime  map[int32]int64            `json:"max_event_time"`
	First    int32                      `json:"first_day"` // days since 1970-01-01; valid when HasDays
	Last     int32                      `json:"last_day"`
	HasDays  bool                       `json:"has_days"`
	Pending  []int32                    `json:"pending_days,omitempty"`
	Users    bool                       `json:"pending_users,omitempty"`
	// OpenParts holds, per bronze partition directory (bronze/interactions/date=2023-07-01), the index
	// of its part-NNNNN.parquet that the next run appends to; the parts below it are sealed. A
	// directory missing from it starts at part 0.
	OpenParts map[string]int `json:"open_parts,omitempty"`
}

// Decode reads the object at StateKey into s; fields b lacks keep the values s had.
func (s *State) Decode(b []byte) error {
	if err := json.Unmarshal(b, s); err != nil {
		return fmt.Errorf("decode %s: %w", StateKey, err)
	}
	return nil
}
