package compactor

import (
	"bytes"
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

func TestReadBronzeEqualsReadParquet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make([]tables.BronzeInteraction, 3000) // more than one batch of readBronze's rows
	for i := range rows {
		rows[i] = tables.BronzeInteraction{
			UserID: fmt.Sprint("u", rng.IntN(50)), Timestamp: rng.Int64(), ActionType: []string{"view", "edit"}[rng.IntN(2)],
			PageID: fmt.Sprint("p", rng.IntN(1e6)), DurationMs: rng.Int64N(1e6), AppVersion: fmt.Sprint("5.", rng.IntN(3)),
			KafkaPartition: rng.Int32N(8), KafkaOffset: int64(i), Late: rng.IntN(10) == 0,
		}
	}
	var buf bytes.Buffer
	if err := writeParquet(&buf, rows); err != nil {
		t.Fatal(err)
	}
	want, err := readParquet([]tables.BronzeInteraction(nil), buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	prefix := []tables.BronzeInteraction{{UserID: "already there"}}
	got, err := readBronze(slices.Clone(prefix), buf.Bytes(), map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, append(prefix, want...)) || !slices.Equal(want, rows) {
		t.Errorf("readBronze differs from readParquet")
	}
	type notBronze struct {
		UserID string `parquet:"user_id"`
	}
	buf.Reset()
	if err := writeParquet(&buf, []notBronze{{"u1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := readBronze(nil, buf.Bytes(), map[string]string{}); err == nil {
		t.Error("readBronze read a file without bronze's columns")
	}
}
