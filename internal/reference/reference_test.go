package reference

import (
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
)

func ms(s string) int64 {
	t, err := time.Parse("2006-01-02 15:04:05.000", s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestComputeRows(t *testing.T) {
	ev := func(user, ts, action, page string, dur int64) event.Interaction {
		return event.Interaction{UserID: user, Time: ms(ts), Action: action, PageID: page, DurationMs: dur}
	}
	rows := []event.Interaction{
		ev("a", "2023-07-01 10:00:00.000", "page_view", "p1", 1000),
		ev("a", "2023-07-01 10:29:59.999", "EDIT", "p1", 2000),     // same session
		ev("a", "2023-07-01 10:29:59.999", "edit", "p1", 9999),     // duplicate: first kept
		ev("a", "2023-07-01 10:59:59.999", "share", "p2", 3000),    // gap exactly 30 min: new session
		ev("a", "2023-07-01 23:59:59.000", "create", "p3", 0),      // new session
		ev("a", "2023-07-02 00:00:00.000", "create", "p3", 0),      // midnight split
		ev("b", "2023-07-01 12:00:00.000", "bogus", "p1", 5),       // unknown_action
		ev("b", "2023-07-01 12:00:01.000", "delete", "p1", -1),     // duration_out_of_range
		ev("b", "2023-07-03 08:00:00.000", "delete", "p1", 10),     // b's only valid event
		ev("a", "2023-07-01 09:59:00.000", "page_view", "p0", 500), // out of order: joins the first session
	}
	users := []event.User{
		{UserID: "a", Country: "US", DeviceType: "iPad", SubscriptionType: "free"},
		{UserID: "a", Country: "DE", DeviceType: "iPad", SubscriptionType: "premium"}, // later row wins
	}
	r := ComputeRows(rows, users, time.UTC)

	if len(r.Sessions) != 5 {
		t.Fatalf("sessions = %d, want 5: %+v", len(r.Sessions), r.Sessions)
	}
	first := r.Sessions[0]
	if first.Start != ms("2023-07-01 09:59:00.000") || first.End != ms("2023-07-01 10:29:59.999") ||
		first.Actions != 3 || first.EngagedMs != 3500 {
		t.Fatalf("first session = %+v", first)
	}
	d1, d2, d3 := r.Days["2023-07-01"], r.Days["2023-07-02"], r.Days["2023-07-03"]
	if d1.DAU != 1 || d2.DAU != 1 || d3.DAU != 1 || d3.WAU != 2 || d3.MAU != 2 || d2.WAU != 1 {
		t.Fatalf("active users: d1 %d, d2 %d, d3 %d/%d/%d", d1.DAU, d2.DAU, d3.DAU, d3.WAU, d3.MAU)
	}
	if d1.Sessions.Count != 3 || d1.Sessions.Actions != 5 {
		t.Fatalf("day 1 sessions = %+v", d1.Sessions)
	}
	wantQ := Quality{BronzeRows: 8, ValidEvents: 5, UnknownAction: 1, DurationOutOfRange: 1, Duplicate: 1}
	if d1.Quality != wantQ {
		t.Fatalf("day 1 quality = %+v, want %+v", d1.Quality, wantQ)
	}
	if got := d1.Segments[Segment{"country", "DE"}]; got == nil || got.DAU != 1 || got.Sessions.Count != 3 {
		t.Fatalf("DE segment = %+v", got)
	}
	if got := d3.Segments[Segment{"country", "unknown"}]; got == nil || got.DAU != 1 {
		t.Fatalf("unknown segment = %+v", got)
	}
	if d1.P50 != 0 || d1.P95 != 1859.999 {
		t.Fatalf("quantiles = %v, %v", d1.P50, d1.P95)
	}
	if m := r.Months["2023-07"]; m == nil || m.MAU != 2 || m.Sessions.Count != 5 {
		t.Fatalf("month = %+v", m)
	}
	if r.Active("2023-07-01", "2023-07-03", Segment{"subscription_type", "premium"}) != 1 {
		t.Fatal("segment active count is wrong")
	}
}
