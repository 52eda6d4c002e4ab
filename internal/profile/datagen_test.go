package profile

import (
	"bytes"
	"testing"

	"github.com/notestream/notestream/internal/datagen"
	"github.com/notestream/notestream/internal/event"
)

// TestAgainstDatagen profiles generated files and checks every count against what the generator says it
// wrote: rows and each kind of bad row.
func TestAgainstDatagen(t *testing.T) {
	cfg := datagen.DefaultConfig()
	cfg.Users, cfg.Days, cfg.Seed = 800, 60, 5
	for r := range cfg.Rates {
		cfg.Rates[r] *= 5 // enough bad rows of every kind in a small sample
	}
	var interactions, users bytes.Buffer
	want, err := datagen.Generate(cfg, &interactions, &users)
	if err != nil {
		t.Fatal(err)
	}
	urep, ids, err := Users(&users, "user_metadata.csv")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Interactions(&interactions, "user_interactions.csv", ids)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != want.InteractionRows || urep.Rows != want.UserRows {
		t.Fatalf("rows: %d interactions, %d users; datagen wrote %d, %d", rep.Rows, urep.Rows, want.InteractionRows, want.UserRows)
	}
	for reason, n := range want.InteractionDirt {
		got := rep.Rejected[reason.String()]
		if reason.RuleInvalid() {
			got = rep.RuleInvalid[reason.String()]
		}
		if got != n {
			t.Errorf("%s: profile counts %d, datagen wrote %d", reason, got, n)
		}
	}
	for reason, n := range want.UserDirt {
		if got := urep.Rejected[reason.String()]; got != n {
			t.Errorf("users %s: profile counts %d, datagen wrote %d", reason, got, n)
		}
	}
	// An update whose first or second row is unreadable does not repeat a readable user.
	if urep.DuplicateUsers == 0 || urep.DuplicateUsers > int64(want.UsersUpdated) {
		t.Errorf("metadata rows repeating a user: %d, datagen updated %d users", urep.DuplicateUsers, want.UsersUpdated)
	}
	if want.InteractionDirt[event.Duplicate] == 0 || len(rep.Rejected) < 5 {
		t.Fatalf("sample too small to test every reason: %v", want.InteractionDirt)
	}
}
