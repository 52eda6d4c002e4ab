package compactor

import (
	"context"
	"log/slog"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/reference"
	"github.com/notestream/notestream/internal/tables"
)

// checkEngagement compares gold/power_users (top pct), gold/session_frequency and
// gold/cohort_retention with the reference's naive computation.
func checkEngagement(t *testing.T, dir string, ref *reference.Result, pct string) {
	t.Helper()
	power := readTable[tables.PowerUser](t, dir, tables.GoldPowerUsers)
	freq := readTable[tables.SessionFrequency](t, dir, tables.GoldSessionFrequency)
	if len(power) != len(ref.Months) || len(freq) != len(ref.Months) {
		t.Fatalf("gold has %d power_users and %d session_frequency months, reference %d", len(power), len(freq), len(ref.Months))
	}
	same := func(got *float64, want float64) bool {
		if got == nil {
			return math.IsNaN(want)
		}
		return *got == want
	}
	for m := range ref.Months {
		top, shares, active, _ := ref.PowerUsers(m, pct)
		rows := power[m]
		if len(rows) != len(top) {
			t.Errorf("%s: %d power users, reference %d of %d active", m, len(rows), len(top), active)
			continue
		}
		for i, r := range rows {
			w := top[i]
			if r.Rank != int64(i+1) || r.UserID != w.UserID || r.EngagedMs != w.EngagedMs || r.Events != w.Events ||
				r.Sessions != w.Sessions || r.ActiveDays != w.ActiveDays || !same(r.ShareOfEngagedMs, shares[i]) {
				t.Errorf("%s power user %d: got %+v, want %+v share %v", m, i+1, r, w, shares[i])
			}
		}
		labels, users, active := ref.Frequency(m)
		if len(freq[m]) != len(labels) {
			t.Fatalf("%s: %d frequency rows", m, len(freq[m]))
		}
		for i, r := range freq[m] {
			want := math.NaN()
			if active > 0 {
				want = float64(users[i]) / float64(active)
			}
			if r.Bucket != labels[i] || r.Users != users[i] || !same(r.Share, want) {
				t.Errorf("%s frequency %d: got %+v, want %s %d", m, i, r, labels[i], users[i])
			}
		}
	}
	cohorts := readTable[tables.CohortRetention](t, dir, tables.GoldCohortRetention)
	var got []reference.CohortCell
	for _, week := range slices.Sorted(maps.Keys(cohorts)) {
		for _, r := range cohorts[week] {
			got = append(got, reference.CohortCell{Week: week, Basis: r.Basis, Offset: int(r.WeekOffset), Size: int(r.CohortSize),
				Retained: int(r.RetainedUsers), Complete: r.Complete})
			if r.Retention != float64(r.RetainedUsers)/float64(r.CohortSize) {
				t.Errorf("%s %+v: retention %v", week, r, r.Retention)
			}
		}
	}
	want := ref.Cohorts()
	if len(got) != len(want) {
		t.Fatalf("gold has %d cohort cells, reference %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("cohort cell %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestEngagementOptions: another top percentage, join dates inside the data (the generated ones are
// all before it), and a new join date moving a user between cohorts with no new events.
func TestEngagementOptions(t *testing.T) {
	ds := genData(11, 120, 30, 900)
	for i := range ds.users {
		ds.users[i].JoinDate = time.Date(2023, 6, 10+i%30, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	}
	loc, err := time.LoadLocation("Pacific/Kiritimati") // UTC+14: most UTC Sundays are Mondays there
	if err != nil {
		t.Skip(err)
	}
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	dir := t.TempDir()
	store, _ := lake.NewDir(dir)
	pct, err := engagement.ParsePct("12.5")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Chunk: 3000, Location: loc, PowerUsersPct: pct, Logger: slog.New(slog.DiscardHandler)}, store, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, dir, reference.ComputeRows(ds.rows, ds.users, loc), "12.5")

	// Only metadata changes: a user moves to another join_date cohort, with no new events.
	moved := event.User{UserID: "u1", JoinDate: "2023-07-05", Country: "US", DeviceType: "iPad", SubscriptionType: "free"}
	src.append("users", testPartitions, moved.UserID, record.AppendUser(nil, &moved), "")
	ds.users = append(ds.users, moved)
	if _, err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkEngagement(t, dir, reference.ComputeRows(ds.rows, ds.users, loc), "12.5")
}
