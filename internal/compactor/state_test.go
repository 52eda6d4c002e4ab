package compactor

import (
	"reflect"
	"testing"

	"github.com/notestream/notestream/internal/tables"
)

// TestStateIsTheLakes: plan.go still names the state object and its type, which readers of the lake
// take from tables; loadState converts between the two types, which the compiler checks field by field
// but not by JSON name.
func TestStateIsTheLakes(t *testing.T) {
	if StateKey != tables.StateKey {
		t.Errorf("StateKey %q, tables.StateKey %q", StateKey, tables.StateKey)
	}
	ours, lakes := reflect.TypeFor[State](), reflect.TypeFor[tables.State]()
	for i := range ours.NumField() {
		if a, b := ours.Field(i), lakes.Field(i); a.Tag != b.Tag {
			t.Errorf("State.%s has tag %q, tables.State.%s %q", a.Name, a.Tag, b.Name, b.Tag)
		}
	}
}
