package compactor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/bits"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/tables"
)

// CohortIndexKey is the lake object that records what gold/cohort_retention was last computed from:
// every user's join day and active weeks, and each week's first and last day with a valid event. A
// run updates it for the weeks it rebuilds and recomputes only the cohort weeks that changed, instead
// of reading every lake day again.
const CohortIndexKey = "_state/cohort_index.parquet"

// cohortIndexMeta is the key of the Parquet metadata that holds the index's weeks.
const cohortIndexMeta = "notestream.cohort_weeks"

// cohortIndex is an engagement.Activity with its users' ids.
type cohortIndex struct {
	act   engagement.Activity
	ids   map[string]int32
	names []string // id → user_id
}

func newCohortIndex() *cohortIndex { return &cohortIndex{ids: map[string]int32{}} }

// clone returns a copy whose changes leave x as it is.
func (x *cohortIndex) clone() *cohortIndex {
	return &cohortIndex{act: *x.act.Clone(), ids: maps.Clone(x.ids), names: slices.Clone(x.names)}
}

// id numbers a user, adding them (without a join day) when new.
func (x *cohortIndex) id(user string) int32 {
	id, ok := x.ids[user]
	if !ok {
		id = x.act.AddUser(engagement.NoDay)
		x.ids[user] = id
		x.names = append(x.names, user)
	}
	return id
}

// cohortIndexRow is one user of the index object: weeks holds bit i (byte i/8, bit i%8) set when the
// user was active in the week of Monday origin + 7i.
type cohortIndexRow struct {
	UserID  string `parquet:"user_id"`
	JoinDay *int32 `parquet:"join_day,date"`
	Weeks   []byte `parquet:"weeks"`
}

// cohortWeeks is the index object's metadata: the Monday of bit 0 and each week's first and last day
// with a valid event (engagement.NoDay twice for none).
type cohortWeeks struct {
	Origin int32      `json:"origin"`
	Days   [][2]int32 `json:"days"`
}

// encode writes the index in a canonical form, so the same activity gives the same bytes: weeks from
// the first to the last with a valid event, users sorted, users without activity or join day left out.
func (x *cohortIndex) encode(w io.Writer) error {
	a := &x.act
	lo, hi := 0, len(a.Days)-1
	for lo <= hi && a.Days[lo][0] == engagement.NoDay {
		lo++
	}
	for hi >= lo && a.Days[hi][0] == engagement.NoDay {
		hi--
	}
	meta := cohortWeeks{Days: [][2]int32{}}
	if lo <= hi {
		meta.Origin, meta.Days = a.Origin+7*int32(lo), a.Days[lo:hi+1]
	}
	var rows []cohortIndexRow
	for id, user := range x.names {
		var weeks []byte
		for i, word := range a.Weeks[id] {
			for word != 0 {
				b := i*64 + bits.TrailingZeros64(word) - lo
				word &= word - 1
				if b < 0 || b > hi-lo {
					continue
				}
				for len(weeks) <= b/8 {
					weeks = append(weeks, 0)
				}
				weeks[b/8] |= 1 << (b % 8)
			}
		}
		row := cohortIndexRow{UserID: user, Weeks: weeks}
		if d := a.Join[id]; d != engagement.NoDay {
			row.JoinDay = &d
		}
		if row.JoinDay != nil || len(weeks) > 0 {
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, func(a, b cohortIndexRow) int { return strings.Compare(a.UserID, b.UserID) })
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	pw := parquet.NewGenericWriter[cohortIndexRow](w,
		parquet.Compression(zstdCodec),
		parquet.MaxRowsPerRowGroup(MaxRowsPerRowGroup),
		parquet.KeyValueMetadata(cohortIndexMeta, string(b)),
	)
	if _, err := pw.Write(rows); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("close parquet: %w", err)
	}
	return nil
}

// decodeCohortIndex reads an index object back.
func decodeCohortIndex(b []byte) (*cohortIndex, error) {
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("open parquet: %w", err)
	}
	v, ok := f.Lookup(cohortIndexMeta)
	if !ok {
		return nil, fmt.Errorf("no %s metadata", cohortIndexMeta)
	}
	var meta cohortWeeks
	if err := json.Unmarshal([]byte(v), &meta); err != nil {
		return nil, fmt.Errorf("decode %s metadata: %w", cohortIndexMeta, err)
	}
	rows, err := tables.Read([]cohortIndexRow(nil), CohortIndexKey, b)
	if err != nil {
		return nil, err
	}
	x := newCohortIndex()
	x.act.Origin, x.act.Days = meta.Origin, meta.Days
	x.names = make([]string, len(rows))
	x.act.Join = make([]int32, len(rows))
	x.act.Weeks = make([][]uint64, len(rows))
	for id, r := range rows {
		if len(r.Weeks) > (len(meta.Days)+7)/8 {
			return nil, fmt.Errorf("user %q: %d bytes of weeks for %d weeks", r.UserID, len(r.Weeks), len(meta.Days))
		}
		x.ids[r.UserID], x.names[id] = int32(id), r.UserID
		x.act.Join[id] = engagement.NoDay
		if r.JoinDay != nil {
			x.act.Join[id] = *r.JoinDay
		}
		words := make([]uint64, (len(r.Weeks)+7)/8)
		for i, c := range r.Weeks {
			words[i/8] |= uint64(c) << (8 * (i % 8))
		}
		x.act.Weeks[id] = words
	}
	return x, nil
}

// loadCohortIndex reads the lake's cohort index, nil when it has none.
func (c *Compactor) loadCohortIndex(ctx context.Context) (*cohortIndex, error) {
	b, err := c.store.Get(ctx, CohortIndexKey)
	if errors.Is(err, lake.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", CohortIndexKey, err)
	}
	x, err := decodeCohortIndex(b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", CohortIndexKey, err)
	}
	return x, nil
}
