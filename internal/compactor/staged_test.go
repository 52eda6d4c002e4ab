package compactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/rowfile"
	"github.com/notestream/notestream/internal/tables"
)

// stageTest writes staged objects of sorted random rows (sizes[i] rows in object i, partition i),
// each between segments of other days, as a map unit stages a range, and returns their segments and
// rows.
func stageTest(t *testing.T, store lake.Store, sizes []int) ([]stagedSegment, [][]tables.BronzeInteraction) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(len(sizes))))
	var segs []stagedSegment
	var all [][]tables.BronzeInteraction
	for p, n := range sizes {
		rows := make([]tables.BronzeInteraction, n)
		for i := range rows {
			rows[i] = tables.BronzeInteraction{UserID: fmt.Sprint("u", rng.IntN(20)), Timestamp: rng.Int64N(50), ActionType: "edit",
				PageID: fmt.Sprint("p", i), KafkaPartition: int32(p), KafkaOffset: int64(i), Late: i%5 == 0}
		}
		slices.SortFunc(rows, func(a, b tables.BronzeInteraction) int { return compareBronze(&a, &b) })
		other := []tables.BronzeInteraction{{UserID: "u0", PageID: "another day's", KafkaPartition: int32(p), KafkaOffset: int64(n)}}
		key := stagedKey(1, Range{Topic: "interactions", Partition: int32(p), From: 0, To: int64(n + 1)})
		var seg stagedSegment
		err := store.Put(context.Background(), key, func(w io.Writer) error {
			cw := &countingWriter{w: w}
			if err := stagedInteractions.write(cw, other); err != nil {
				return err
			}
			off := cw.n
			if err := stagedInteractions.write(cw, rows); err != nil {
				return err
			}
			seg = stagedSegment{key, off, cw.n - off}
			return stagedInteractions.write(cw, other)
		})
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, seg)
		all = append(all, rows)
	}
	return segs, all
}

// readRest reads r's rows from its position to the end, in batches of n.
func readRest(t *testing.T, r *partRows[tables.BronzeInteraction], n int) []tables.BronzeInteraction {
	t.Helper()
	var out []tables.BronzeInteraction
	batch := make([]tables.BronzeInteraction, n)
	for {
		k, err := r.next(batch)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, batch[:k]...)
		if k < n {
			return out
		}
	}
}

// TestPartRowsMergeAndSeek: a reduce's staged rows come merged in silver's order a group at a time,
// and going back to any position (a retried part) reads the same rows from there.
func TestPartRowsMergeAndSeek(t *testing.T) {
	store, _ := lake.NewDir(t.TempDir())
	segs, rows := stageTest(t, store, []int{300, 0, 517, 90, 1})
	groups := [][]stagedSegment{segs[:3], segs[3:]}
	var want []tables.BronzeInteraction
	for _, g := range [][][]tables.BronzeInteraction{rows[:3], rows[3:]} {
		merged := slices.Concat(g...)
		slices.SortFunc(merged, func(a, b tables.BronzeInteraction) int { return compareBronze(&a, &b) })
		want = append(want, merged...)
	}
	r := &partRows[tables.BronzeInteraction]{ctx: context.Background(), store: store, open: "bronze/interactions/date=2023-01-01/part-00000.parquet",
		groups: groups, keep: func(*tables.BronzeInteraction) bool { return true }, staged: stagedInteractions}
	defer r.close()
	var positions []rowPos
	var got []tables.BronzeInteraction
	batch := make([]tables.BronzeInteraction, 37)
	for {
		positions = append(positions, r.pos)
		n, err := r.next(batch)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, batch[:n]...)
		if n < len(batch) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("merged rows differ: got %d rows, want %d", len(got), len(want))
	}
	for i := len(positions) - 1; i >= 0; i -= 3 {
		if err := r.seek(positions[i]); err != nil {
			t.Fatal(err)
		}
		if rest := readRest(t, r, 64); !slices.Equal(rest, want[i*len(batch):]) {
			t.Fatalf("after a seek to %+v: %d rows, want %d", positions[i], len(rest), len(want)-i*len(batch))
		}
	}
}

// TestReduceRefusesCorruptStaging: a staged object cut short in a segment or with a byte of one
// changed fails the reduce with rowfile.ErrCorrupt, and no part is written.
func TestReduceRefusesCorruptStaging(t *testing.T) {
	for _, damage := range []string{"cut", "flip"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			store, _ := lake.NewDir(dir)
			segs, _ := stageTest(t, store, []int{400, 200})
			s := segs[1]
			p := filepath.Join(dir, filepath.FromSlash(s.Key))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if damage == "cut" {
				b = b[:s.Off+s.Len-3]
			} else {
				b[s.Off+s.Len/2] ^= 1
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			u := reduceUnit{bronzeDir: bronzeDir{tables.BronzeInteractions, "bronze/interactions/date=2023-01-01"}, staged: segs}
			_, err = reduceDirectory(context.Background(), store, partSize{object: 1 << 30, rowGroup: 100}, u, stagedInteractions,
				func(r *tables.BronzeInteraction) (int32, int64) { return r.KafkaPartition, r.KafkaOffset })
			if !errors.Is(err, rowfile.ErrCorrupt) {
				t.Fatalf("reduce of a damaged staged object: %v, want rowfile.ErrCorrupt", err)
			}
			if parts, _ := store.List(context.Background(), "bronze/"); len(parts) > 0 {
				t.Fatalf("parts written: %v", parts)
			}
		})
	}
}

// TestDecodeMapDone: a map unit's done marker reads back as written, and one from a compactor that
// staged an object per directory is refused rather than read as a unit that staged nothing.
func TestDecodeMapDone(t *testing.T) {
	maxTime := int64(42)
	m := mapDone{
		Staged:  []stagedDir{{tables.BronzeInteractions, "bronze/interactions/date=2023-01-01", []stagedSegment{{"_staging/run-1/interactions-p00000.rows", 3, 9}}}},
		Days:    []int32{19358},
		MaxTime: &maxTime,
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeMapDone(b); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("decoded %+v, %v; want %+v", got, err, m)
	}
	old := `{"staged":[{"table":"bronze/interactions","dir":"bronze/interactions/date=2023-01-01","keys":["_staging/run-1/bronze/interactions/date=2023-01-01/interactions-p00000-00000000000000000000-00000000000000000009.rows"]}],"days":[19358]}`
	if _, err := decodeMapDone([]byte(old)); !errors.Is(err, errOldStaging) {
		t.Fatalf("an old marker decoded with %v, want errOldStaging", err)
	}
}
