package event

import "testing"

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
