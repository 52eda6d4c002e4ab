package compactor

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/lake"
)

// TestStageWorkersShareSlots: a stage's units are done Parallel at a time, never more, while the
// workers around them sync and write done markers; every unit's marker comes back.
func TestStageWorkersShareSlots(t *testing.T) {
	store, _ := lake.NewDir(t.TempDir())
	c := newTestCompactor(t, store, newMemSource())
	var doing, most atomic.Int32
	var units []string
	for i := range 12 {
		units = append(units, fmt.Sprintf("u%02d", i))
	}
	markers, err := c.runStage(context.Background(), stage{run: 1, units: units, state: lake.Absent, do: func(_ context.Context, u string) ([]byte, error) {
		n := doing.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		doing.Add(-1)
		return []byte(`"` + u + `"`), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := most.Load(), int32(c.cfg.Parallel); got != want {
		t.Errorf("at most %d units were done at once, want Parallel = %d", got, want)
	}
	for _, u := range units {
		if string(markers[u]) != `"`+u+`"` {
			t.Errorf("unit %s: marker %q", u, markers[u])
		}
	}
}
