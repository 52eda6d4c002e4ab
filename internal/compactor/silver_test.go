package compactor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/notestream/notestream/internal/tables"
)

func TestMergeRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sizes := range [][]int{{}, {0}, {5}, {3, 0, 4}, {1, 1, 1}, {7, 2, 9, 4, 0, 6, 1}, {50, 50, 50, 50, 50, 50, 50, 50}} {
		var rows []tables.BronzeInteraction
		runs := []int{0}
		for p, n := range sizes {
			run := make([]tables.BronzeInteraction, n)
			for i := range run {
				// Few users and times, so ties between runs are common.
				run[i] = tables.BronzeInteraction{UserID: fmt.Sprint("u", rng.IntN(3)), Timestamp: int64(rng.IntN(4)), KafkaPartition: int32(p), KafkaOffset: int64(i)}
			}
			if p%2 == 0 { // bronze objects are sorted; odd runs stay unsorted
				slices.SortFunc(run, func(a, b tables.BronzeInteraction) int { return compareBronze(&a, &b) })
			}
			rows = append(rows, run...)
			runs = append(runs, len(rows))
		}
		want := slices.Clone(rows)
		slices.SortFunc(want, func(a, b tables.BronzeInteraction) int { return compareBronze(&a, &b) })
		if got := mergeRuns(rows, runs); !slices.Equal(got, want) {
			t.Errorf("runs %v: merged\n%v\nwant\n%v", sizes, got, want)
		}
	}
}
