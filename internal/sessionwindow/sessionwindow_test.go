package sessionwindow

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at parses "2006-01-02 15:04:05.000" in loc; an explicit offset after the time wins over loc.
func at(t *testing.T, loc *time.Location, s string) int64 {
	t.Helper()
	layout := "2006-01-02 15:04:05.000"
	if len(s) > len(layout) {
		layout += " -0700"
	}
	tm, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixMilli()
}

func view(user string, ms int64) event.Interaction {
	return event.Interaction{UserID: user, Time: ms, Action: "page_view", PageID: "p1", DurationMs: 1000}
}

// sessionize runs events through a new window, flushes it and returns the sessions.
func sessionize(t *testing.T, cfg Config, evs ...event.Interaction) []Session {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if r := w.Add(&ev); r != event.OK {
			t.Fatalf("Add(%+v) = %v", ev, r)
		}
	}
	w.Flush()
	return w.Drain(nil)
}

func TestSplits(t *testing.T) {
	f := func(zone string, times []string, wantStarts ...string) {
		t.Helper()
		loc := mustZone(t, zone)
		var evs []event.Interaction
		for _, s := range times {
			evs = append(evs, view("u", at(t, loc, s)))
		}
		var starts []int64
		for _, s := range sessionize(t, Config{Location: loc}, evs...) {
			starts = append(starts, s.Start)
		}
		var want []int64
		for _, s := range wantStarts {
			want = append(want, at(t, loc, s))
		}
		if !slices.Equal(starts, want) {
			t.Fatalf("%s %v: session starts %v, want %v", zone, times, starts, want)
		}
	}
	// A gap of exactly 30:00.000 splits; 29:59.999 does not.
	f("UTC", []string{"2023-07-01 10:00:00.000", "2023-07-01 10:30:00.000"}, "2023-07-01 10:00:00.000", "2023-07-01 10:30:00.000")
	f("UTC", []string{"2023-07-01 10:00:00.000", "2023-07-01 10:29:59.999"}, "2023-07-01 10:00:00.000")
	// Midnight splits, however short the gap.
	f("UTC", []string{"2023-07-01 23:59:59.000", "2023-07-02 00:00:00.000"}, "2023-07-01 23:59:59.000", "2023-07-02 00:00:00.000")
	f("UTC", []string{"2023-07-01 23:59:59.999", "2023-07-02 00:00:00.000"}, "2023-07-01 23:59:59.999", "2023-07-02 00:00:00.000")
	// Midnight is local: UTC midnight does not split in New York, New York's does.
	f("America/New_York", []string{"2023-07-01 19:50:00.000", "2023-07-01 20:10:00.000"}, "2023-07-01 19:50:00.000")
	f("America/New_York", []string{"2023-07-01 23:50:00.000", "2023-07-02 00:10:00.000"}, "2023-07-01 23:50:00.000", "2023-07-02 00:10:00.000")
	// DST ends in New York: 01:50 EDT then 01:10 EST is 20 minutes later on the same date.
	f("America/New_York", []string{"2023-11-05 01:50:00.000 -0400", "2023-11-05 01:10:00.000 -0500"}, "2023-11-05 01:50:00.000 -0400")
	// DST starts in Berlin: 01:50 CET then 03:05 CEST is 15 minutes later.
	f("Europe/Berlin", []string{"2024-03-31 01:50:00.000", "2024-03-31 03:05:00.000"}, "2024-03-31 01:50:00.000")
	// Chile ends DST at 24:00, back to 23:00 of the same date: 23:50 then 23:05 again is one session.
	f("America/Santiago", []string{"2024-04-06 23:50:00.000 -0300", "2024-04-06 23:05:00.000 -0400"}, "2024-04-06 23:50:00.000 -0300")
	f("America/Santiago", []string{"2024-04-06 23:50:00.000 -0400", "2024-04-07 00:05:00.000 -0400"}, "2024-04-06 23:50:00.000 -0400", "2024-04-07 00:05:00.000 -0400")
	// Out of order within the lateness: an event before the start, one bridging two sessions.
	f("UTC", []string{"2023-07-01 10:00:00.000", "2023-07-01 09:58:00.000"}, "2023-07-01 09:58:00.000")
	f("UTC", []string{"2023-07-01 10:00:00.000", "2023-07-01 10:31:00.000", "2023-07-01 10:29:00.000"}, "2023-07-01 10:00:00.000")
	f("UTC", []string{"2023-07-01 10:00:00.000", "2023-07-01 10:31:00.000", "2023-07-01 10:30:00.000"}, "2023-07-01 10:00:00.000", "2023-07-01 10:30:00.000")
}

func TestSessionFields(t *testing.T) {
	loc := time.UTC
	t0 := at(t, loc, "2023-07-01 14:30:15.000")
	got := sessionize(t, Config{}, view("u123", t0))
	want := []Session{{UserID: "u123", Start: t0, End: t0, Actions: 1, EngagedMs: 1000}}
	if !slices.Equal(got, want) {
		t.Fatalf("single event: %+v, want %+v", got, want)
	}
	if got[0].ID() != "33957f7baafac4dc" {
		t.Fatalf("Session.ID = %s", got[0].ID())
	}
	if ID("u123", t0) != "33957f7baafac4dc" { // printf 'u123@1688221815000' | sha256sum
		t.Fatalf("ID = %s", ID("u123", t0))
	}

	// Equal timestamps: other pages count, a repeat of (time, action, page) is a duplicate and the
	// first in input order keeps its duration.
	w, _ := New(Config{})
	evs := []event.Interaction{
		{UserID: "u", Time: t0, Action: "edit", PageID: "a", DurationMs: 10},
		{UserID: "u", Time: t0, Action: "edit", PageID: "b", DurationMs: 20},
		{UserID: "u", Time: t0, Action: "EDIT", PageID: "a", DurationMs: 40},
		{UserID: "u", Time: t0, Action: "share", PageID: "a", DurationMs: 80},
		{UserID: "v", Time: t0, Action: "edit", PageID: "a", DurationMs: 160},
	}
	want2 := []event.Reason{event.OK, event.OK, event.Duplicate, event.OK, event.OK}
	for i := range evs {
		if r := w.Add(&evs[i]); r != want2[i] {
			t.Fatalf("event %d: %v, want %v", i, r, want2[i])
		}
	}
	w.Flush()
	got = w.Drain(nil)
	want = []Session{
		{UserID: "u", Start: t0, End: t0, Actions: 3, EngagedMs: 110},
		{UserID: "v", Start: t0, End: t0, Actions: 1, EngagedMs: 160},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("equal timestamps: %+v, want %+v", got, want)
	}
}

func TestClosingAndLateness(t *testing.T) {
	const minute = 60_000
	t0 := at(t, time.UTC, "2023-07-01 10:00:00.000")
	w, _ := New(Config{})
	add := func(ev event.Interaction, want event.Reason) {
		t.Helper()
		if r := w.Add(&ev); r != want {
			t.Fatalf("Add at %d: %v, want %v", ev.Time, r, want)
		}
	}
	add(view("u", t0), event.OK)
	if wm := w.Watermark(); wm != t0-5*minute {
		t.Fatalf("watermark %d, want %d", wm, t0-5*minute)
	}
	// Rule-invalid events do not move event time.
	add(event.Interaction{UserID: "x", Time: t0 + 100*minute, Action: "nope"}, event.UnknownAction)
	add(event.Interaction{UserID: "x", Time: t0 + 100*minute, Action: "edit", DurationMs: -1}, event.DurationOutOfRange)
	add(event.Interaction{UserID: "x", Time: math.MaxInt64, Action: "edit"}, event.BadTimestamp)
	if wm := w.Watermark(); wm != t0-5*minute {
		t.Fatalf("watermark moved by a rejected event: %d", wm)
	}
	// The session closes when the watermark reaches its last event + 30 min gap.
	w.AdvanceTo(t0 + 35*minute - 1)
	if w.Open() != 1 || len(w.Drain(nil)) != 0 {
		t.Fatal("closed before its deadline")
	}
	add(view("u", t0+30*minute-1), event.OK) // at the watermark, not late; the gap is under 30 min: joins and extends it
	w.AdvanceTo(t0 + 35*minute)
	add(view("u", t0+59*minute), event.OK)
	w.AdvanceTo(t0 + 94*minute - 1)
	if w.Open() != 1 {
		t.Fatal("extended session closed early")
	}
	w.AdvanceTo(t0 + 94*minute)
	got := w.Drain(nil)
	if w.Open() != 0 || len(got) != 1 || got[0].Actions != 3 || got[0].End != t0+59*minute {
		t.Fatalf("after its deadline: open %d, drained %+v", w.Open(), got)
	}
	// An event for the closed session is late and changes nothing.
	add(view("u", t0+70*minute), event.Late)
	add(view("u", t0+89*minute-1), event.Late)
	add(view("u", t0+89*minute), event.OK)
	w.Flush()
	if got := w.Drain(nil); len(got) != 1 || got[0].Start != t0+89*minute {
		t.Fatalf("after flush: %+v", got)
	}

	// A session closes at its local midnight even before its gap runs out.
	ny := mustZone(t, "America/New_York")
	w, _ = New(Config{Location: ny})
	add(view("u", at(t, ny, "2023-07-01 23:50:00.000")), event.OK)
	w.AdvanceTo(at(t, ny, "2023-07-02 00:04:59.999"))
	if w.Open() != 1 {
		t.Fatal("closed before midnight + lateness")
	}
	w.AdvanceTo(at(t, ny, "2023-07-02 00:05:00.000"))
	if w.Open() != 0 {
		t.Fatal("open after midnight + lateness")
	}

	// Batch mode: nothing closes and nothing is late until Flush.
	w, _ = New(Config{Lateness: Unbounded})
	add(view("u", t0), event.OK)
	w.AdvanceTo(math.MaxInt64)
	add(view("u", t0-24*60*minute), event.OK)
	if w.Watermark() != math.MinInt64 || w.Open() != 2 {
		t.Fatalf("batch: watermark %d, open %d", w.Watermark(), w.Open())
	}
}

func TestDrainOrder(t *testing.T) {
	t0 := at(t, time.UTC, "2023-07-01 23:00:00.000")
	w, _ := New(Config{Lateness: time.Hour})
	// Deadlines: b's first at 23:30, a and c at 23:40 (a first), b's second at midnight.
	for _, ev := range []event.Interaction{view("c", t0+10*60_000), view("b", t0+50*60_000), view("b", t0), view("a", t0+10*60_000)} {
		w.Add(&ev)
	}
	w.Flush()
	var got []string
	for _, s := range w.Drain(nil) {
		got = append(got, s.UserID)
	}
	if want := []string{"b", "a", "c", "b"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestDay(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, zone := range append(propertyZones, "Pacific/Chatham", "America/Havana", "Asia/Tehran", "America/St_Johns", "Pacific/Apia") {
		loc := mustZone(t, zone)
		d := newDays(loc)
		cache := NewDays(loc)
		// Random instants from 1938 to 2096, and instants around every transition from 1970 to 2037.
		var instants []int64
		for range 20000 {
			instants = append(instants, r.Int64N(4e12)-1e12)
		}
		for tm := time.Date(1970, 1, 1, 0, 0, 0, 0, loc); tm.Year() < 2037; {
			_, end := tm.ZoneBounds()
			if end.IsZero() || !end.After(tm) {
				break
			}
			z := end.UnixMilli()
			// Forwards, then backwards across the transition, for the cache.
			for _, delta := range []int64{-3_600_000, -1_800_000, -1, 0, 1, 1_800_000, 3_600_000, 1_800_000, 1, 0, -1, -1_800_000, -3_600_000} {
				instants = append(instants, z+delta)
			}
			tm = end
		}
		for _, ms := range instants {
			tm := time.UnixMilli(ms).In(loc)
			want := time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400
			if got := event.DayOf(ms, loc); int64(got) != want {
				t.Fatalf("event.DayOf(%v, %s) = %d, want %d", tm, zone, got, want)
			}
			if got := cache.Day(ms); int64(got) != want {
				t.Fatalf("Days.Day(%v, %s) = %d, want %d", tm, zone, got, want)
			}
			// The interval end is the first later instant on another date.
			end := d.end(ms)
			if end <= ms || event.DayOf(end, loc) == event.DayOf(ms, loc) || event.DayOf(end-1, loc) != event.DayOf(ms, loc) {
				t.Fatalf("%s: interval of %v ends at %v", zone, tm, time.UnixMilli(end).In(loc))
			}
		}
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{Lateness: -time.Second}); err == nil {
		t.Fatal("negative lateness accepted")
	}
	if _, err := New(Config{Gap: -time.Second}); err == nil {
		t.Fatal("negative gap accepted")
	}
	w, _ := New(Config{})
	ev := view("u", 1_700_000_000_000)
	w.Add(&ev)
	snap := w.AppendSnapshot(nil)
	for _, cfg := range []Config{{Lateness: time.Minute}, {Lateness: Unbounded}, {Gap: time.Hour}, {Location: mustZone(t, "Europe/Berlin")}} {
		if _, err := Restore(cfg, snap); err == nil {
			t.Fatalf("snapshot restored under %+v", cfg)
		}
	}
	if _, err := Restore(Config{}, snap); err != nil {
		t.Fatal(err)
	}
}
