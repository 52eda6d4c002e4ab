package event

import (
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	f := func(action string, duration int64, want Reason, wantAction string) {
		t.Helper()
		in := Interaction{Action: action, DurationMs: duration}
		if got := Check(&in); got != want {
			t.Fatalf("Check(%q, %d) = %v, want %v", action, duration, got, want)
		}
		if want == OK && in.Action != wantAction {
			t.Fatalf("Check(%q) stored action %q, want %q", action, in.Action, wantAction)
		}
	}
	f("page_view", 0, OK, "page_view")
	f("PAGE_VIEW", 7_200_000, OK, "page_view")
	f("Edit", 1, OK, "edit")
	f("share", -1, DurationOutOfRange, "")
	f("share", 7_200_001, DurationOutOfRange, "")
	f("view", 5, UnknownAction, "")
	f("", 5, UnknownAction, "")
	f("page_viewX", 5, UnknownAction, "")
	// Unknown action is checked first.
	f("bogus", -5, UnknownAction, "")
}

func TestReasonRoundTrip(t *testing.T) {
	for r := OK; r < numReasons; r++ {
		got, err := ParseReason(r.String())
		if err != nil || got != r {
			t.Fatalf("ParseReason(%q) = %v, %v", r.String(), got, err)
		}
	}
	if _, err := ParseReason("nope"); err == nil {
		t.Fatal("ParseReason accepted an unknown name")
	}
	if !BadDate.Unreadable() || UnknownAction.Unreadable() || !Duplicate.RuleInvalid() || Late.RuleInvalid() {
		t.Fatal("reason tiers are wrong")
	}
}

func BenchmarkCanonicalAction(b *testing.B) {
	inputs := []string{"page_view", "edit", "create", "delete", "share", "Page_View", "bogus"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		CanonicalAction(inputs[i%len(inputs)])
	}
}

func TestCanonicalActionEveryCase(t *testing.T) {
	for _, a := range Actions {
		upper := []byte(a)
		for i := range upper {
			if 'a' <= upper[i] && upper[i] <= 'z' {
				upper[i] -= 'a' - 'A'
			}
		}
		for _, in := range []string{a, string(upper)} {
			if got, ok := CanonicalAction(in); !ok || got != a {
				t.Fatalf("CanonicalAction(%q) = %q, %v", in, got, ok)
			}
		}
	}
	for _, in := range []string{"edit ", "cr3ate", "delet", "page-view", "shar\x00", "EDIT\u212a"} {
		if _, ok := CanonicalAction(in); ok {
			t.Fatalf("CanonicalAction(%q) accepted", in)
		}
	}
}

func TestCalendar(t *testing.T) {
	for _, tc := range []struct {
		date  string
		month string
	}{{"1970-01-01", "1970-01"}, {"2023-02-28", "2023-02"}, {"2024-02-29", "2024-02"}, {"1969-12-31", "1969-12"}, {"9999-12-31", "9999-12"}, {"0000-03-01", "0000-03"}} {
		d, err := ParseDate(tc.date)
		if err != nil {
			t.Fatal(err)
		}
		if got := Date(d); got != tc.date {
			t.Fatalf("Date(ParseDate(%s)) = %s", tc.date, got)
		}
		if got := Month(d); got != tc.month {
			t.Fatalf("Month(%s) = %s, want %s", tc.date, got, tc.month)
		}
		y, m, dd := Civil(int64(d))
		if DaysFromCivil(y, m, dd) != int64(d) {
			t.Fatalf("DaysFromCivil(Civil(%d)) = %d", d, DaysFromCivil(y, m, dd))
		}
		first, last, err := ParseMonth(tc.month)
		if err != nil || first > d || d > last || Month(first) != tc.month || Month(last) != tc.month || Month(first-1) == tc.month || Month(last+1) == tc.month {
			t.Fatalf("ParseMonth(%s) = %s..%s, %v", tc.month, Date(first), Date(last), err)
		}
	}
	for _, bad := range []string{"2023-02-29", "2023-13-01", "23-01-01", ""} {
		if _, err := ParseDate(bad); err == nil {
			t.Fatalf("ParseDate(%q) accepted", bad)
		}
	}
	// Every day from 1600 to 2400 round-trips and matches the time package.
	for d := DaysFromCivil(1600, 1, 1); d < DaysFromCivil(2400, 1, 1); d++ {
		y, m, dd := Civil(d)
		ty, tm, td := time.Unix(d*86400, 0).UTC().Date()
		if y != ty || m != int(tm) || dd != td || DaysFromCivil(y, m, dd) != d {
			t.Fatalf("Civil(%d) = %d-%d-%d, time says %d-%d-%d", d, y, m, dd, ty, tm, td)
		}
	}
}

func TestDayOf(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip(err)
	}
	ms := time.Date(2023, 7, 1, 2, 0, 0, 0, time.UTC).UnixMilli()
	if got := Date(DayOf(ms, ny)); got != "2023-06-30" {
		t.Fatalf("DayOf in New York = %s", got)
	}
	if got := Date(DayOf(ms, nil)); got != "2023-07-01" {
		t.Fatalf("DayOf in UTC = %s", got)
	}
	if got := Date(DayOf(-1, nil)); got != "1969-12-31" {
		t.Fatalf("DayOf(-1) = %s", got)
	}
}
