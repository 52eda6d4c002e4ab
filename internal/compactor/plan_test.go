package compactor

import (
	"reflect"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
)

func TestNewPlan(t *testing.T) {
	st := &State{Run: 4, Offsets: map[string]map[int32]int64{"interactions": {0: 10, 1: 50}}}
	starts := map[string]map[int32]int64{"interactions": {0: 0, 1: 0, 2: 7}, "users": {0: 0}}
	ends := map[string]map[int32]int64{"interactions": {0: 35, 1: 50, 2: 9}, "users": {0: 3}}
	got := NewPlan(st, starts, ends, 30) // three partitions of interactions: ranges of 10
	want := Plan{Run: 5, Ranges: []Range{
		{"interactions", 0, 10, 20}, {"interactions", 0, 20, 30}, {"interactions", 0, 30, 35},
		{"interactions", 2, 7, 9}, // offsets before the log start are gone
		{"users", 0, 0, 3},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan = %+v\nwant %+v", got, want)
	}
	if got.Records() != 30 {
		t.Fatalf("records = %d", got.Records())
	}
	if p := NewPlan(st, starts, map[string]map[int32]int64{"interactions": {0: 10, 1: 50}}, 30); len(p.Ranges) != 0 {
		t.Fatalf("nothing new planned %+v", p)
	}
	// A topic without partitions (users before any metadata was produced) plans nothing.
	if p := NewPlan(st, starts, map[string]map[int32]int64{"interactions": {0: 10, 1: 50}, "users": {}}, 30); len(p.Ranges) != 0 {
		t.Fatalf("topic without partitions planned %+v", p)
	}
}

func TestCommit(t *testing.T) {
	st := &State{Run: 1, Location: "UTC", Offsets: map[string]map[int32]int64{"interactions": {0: 10}},
		MaxTime: map[int32]int64{0: 100}, First: 100, Last: 102, HasDays: true, Pending: []int32{101},
		OpenParts: map[string]int{"bronze/interactions/date=a": 3, "bronze/interactions/date=b": 1}}
	p := Plan{Run: 2, Ranges: []Range{{"interactions", 0, 10, 20}, {"interactions", 1, 0, 5}, {"users", 0, 0, 2}}}
	got := Commit(st, p, map[int32]int64{1: 7}, []int32{98, 101, 105}, true, map[string]int{"bronze/interactions/date=b": 2, "bronze/users/country=FR": 0})
	want := State{Version: 1, Run: 2, Location: "UTC",
		Offsets: map[string]map[int32]int64{"interactions": {0: 20, 1: 5}, "users": {0: 2}},
		MaxTime: map[int32]int64{0: 100, 1: 7}, First: 98, Last: 105, HasDays: true,
		Pending: []int32{98, 99, 101, 103, 104, 105}, Users: true,
		OpenParts: map[string]int{"bronze/interactions/date=a": 3, "bronze/interactions/date=b": 2, "bronze/users/country=FR": 0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("state = %+v\nwant %+v", got, want)
	}
	if st.Offsets["interactions"][0] != 10 || len(st.Pending) != 1 || st.OpenParts["bronze/interactions/date=b"] != 1 {
		t.Fatalf("Commit changed its input: %+v", st)
	}
}

func TestPlanRebuild(t *testing.T) {
	jul1, _ := event.ParseDate("2023-07-01")
	f := func(silver []int32, first, last int32, want Rebuild) {
		t.Helper()
		got := PlanRebuild(silver, first, last)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("PlanRebuild(%v, %d, %d) = %+v\nwant %+v", silver, first, last, got, want)
		}
	}
	days := func(from, to int32) []int32 {
		var d []int32
		for ; from <= to; from++ {
			d = append(d, from)
		}
		return d
	}
	// One day in a long range: its MAU window ahead, its month, and the month's days to load.
	f([]int32{jul1 + 4}, jul1-100, jul1+100, Rebuild{
		Silver: []int32{jul1 + 4}, Gold: days(jul1+4, jul1+33), Months: []string{"2023-07"}, Weeks: []int32{jul1 + 2},
		Load: [2]int32{jul1 + 4 - 29, jul1 + 33}, LakeDays: [2]int32{jul1 - 100, jul1 + 100}, Cohorts: CohortsChanged,
	})
	// Clipped to the lake's days; out-of-range days are ignored.
	f([]int32{jul1, jul1 + 1, jul1 + 9}, jul1, jul1+2, Rebuild{
		Silver: []int32{jul1, jul1 + 1}, Gold: days(jul1, jul1+2), Months: []string{"2023-07"}, Weeks: []int32{jul1 - 5},
		Load: [2]int32{jul1, jul1 + 2}, LakeDays: [2]int32{jul1, jul1 + 2}, Cohorts: CohortsChanged,
	})
	f(nil, jul1, jul1, Rebuild{LakeDays: [2]int32{jul1, jul1}})
}

func TestAnomalyDays(t *testing.T) {
	f := func(silver []int32, first, last int32, want []int32) {
		t.Helper()
		if got := AnomalyDays(silver, first, last); !reflect.DeepEqual(got, want) {
			t.Fatalf("AnomalyDays(%v, %d, %d) = %v, want %v", silver, first, last, got, want)
		}
	}
	// A day, the day before it, and its weekday in the 8 weeks after it.
	f([]int32{100}, 0, 1000, []int32{99, 100, 107, 114, 121, 128, 135, 142, 149, 156})
	// Clipped to the lake's days.
	f([]int32{100}, 100, 120, []int32{100, 107, 114})
	// A new last day makes the previous last day scorable.
	f([]int32{201}, 0, 201, []int32{200, 201})
	if got := AnomalyDays(nil, 0, 10); len(got) != 0 {
		t.Fatalf("AnomalyDays(nil) = %v", got)
	}
}

func TestDayOf(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip(err)
	}
	// 2023-07-01 02:00 UTC is still June 30 in New York.
	ms := int64(1688176800000)
	if got := event.Date(event.DayOf(ms, ny)); got != "2023-06-30" {
		t.Fatalf("New York day = %s", got)
	}
	if got := event.Date(event.DayOf(ms, nil)); got != "2023-07-01" {
		t.Fatalf("UTC day = %s", got)
	}
}
