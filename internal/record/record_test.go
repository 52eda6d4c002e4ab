package record

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/notestream/notestream/internal/event"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestAppendInteraction(t *testing.T) {
	in := event.Interaction{UserID: "u123", Time: ms("2023-07-01T14:30:15Z"), Action: "page_view",
		PageID: "p456", DurationMs: 12000, AppVersion: "5.7.3"}
	got := string(AppendInteraction([]byte("x"), &in))
	want := `x{"user_id":"u123","timestamp":"2023-07-01T14:30:15.000Z","action_type":"page_view","page_id":"p456","duration_ms":12000,"app_version":"5.7.3"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAppendUser(t *testing.T) {
	u := event.User{UserID: "u123", JoinDate: "2022-01-15", Country: "US", DeviceType: "iPad", SubscriptionType: "premium"}
	got := string(AppendUser(nil, &u))
	want := `{"user_id":"u123","join_date":"2022-01-15","country":"US","device_type":"iPad","subscription_type":"premium"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAppendControl(t *testing.T) {
	got := string(AppendControl(nil, Control{Kind: ControlProgress, EventTime: ms("2023-07-01T14:30:15.007Z")}))
	want := `{"kind":"progress","event_time":"2023-07-01T14:30:15.007Z"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAppendTime(t *testing.T) {
	f := func(in string) {
		t.Helper()
		if got := string(AppendTime(nil, ms(in))); got != in {
			t.Fatalf("AppendTime(%s) = %s", in, got)
		}
	}
	f("1970-01-01T00:00:00.000Z")
	f("1969-12-31T23:59:59.999Z")
	f("0000-01-01T00:00:00.000Z")
	f("9999-12-31T23:59:59.999Z")
	f("2024-02-29T12:00:00.123Z")
	f("2023-07-01T14:30:15.040Z")
}

// TestAppendTimeMatchesTimeFormat compares every day of years 0000 to 9999, at a time of day that
// varies, and the first and last millisecond of each, with the time package's formatting.
func TestAppendTimeMatchesTimeFormat(t *testing.T) {
	const layout = "2006-01-02T15:04:05.000Z"
	first := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	last := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli()
	var buf []byte
	var e Encoder // its cached date is reused within a day and replaced at the next
	for day := first; day <= last; day += 86_400_000 {
		for _, ms := range []int64{day, day + (day/86_400_000*7_919_993)%86_400_000, day + 86_399_999} {
			want := time.UnixMilli(ms).UTC().Format(layout)
			if buf = AppendTime(buf[:0], ms); string(buf) != want {
				t.Fatalf("AppendTime(%d) = %s, want %s", ms, buf, want)
			}
			if buf = e.AppendTime(buf[:0], ms); string(buf) != want {
				t.Fatalf("Encoder.AppendTime(%d) = %s, want %s", ms, buf, want)
			}
		}
	}
}

// FuzzAppendTime compares AppendTime, and an Encoder writing two times in a row, with the time
// package's formatting for any millisecond.
func FuzzAppendTime(f *testing.F) {
	f.Add(int64(0), int64(86_399_999))
	f.Add(int64(-62_167_219_200_001), int64(-1))
	f.Add(int64(253_402_300_800_000), int64(253_402_300_799_999))
	f.Fuzz(func(t *testing.T, ms, next int64) {
		want := time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
		if got := string(AppendTime(nil, ms)); got != want {
			t.Fatalf("AppendTime(%d) = %s, want %s", ms, got, want)
		}
		var e Encoder
		e.AppendTime(nil, ms)
		want = time.UnixMilli(next).UTC().Format("2006-01-02T15:04:05.000Z")
		if got := string(e.AppendTime(nil, next)); got != want {
			t.Fatalf("Encoder.AppendTime(%d) after %d = %s, want %s", next, ms, got, want)
		}
	})
}

// TestAppendStringMatchesEncodingJSON checks the escaping against encoding/json without HTML escaping.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	f := func(s string) {
		t.Helper()
		var sb strings.Builder
		enc := json.NewEncoder(&sb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(sb.String(), "\n")
		if got := string(appendString(nil, s)); got != want {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
	f("")
	f("plain")
	f(`quote " backslash \ slash /`)
	f("tab\tnl\ncr\rnul\x00bell\x07esc\x1b del\x7f")
	f("héllo, 世界 🙂")
	f("bad \xff utf8 \xc3")
	f("\xe2\x80\xa8 line sep \xe2\x80\xa9 para sep")
	f("<html> & co")
}

func TestDecodeInteraction(t *testing.T) {
	want := event.Interaction{UserID: "u123", Time: ms("2023-07-01T14:30:15Z"), Action: "page_view",
		PageID: "p456", DurationMs: 12000, AppVersion: "5.7.3"}
	f := func(in string, want event.Interaction) {
		t.Helper()
		var got event.Interaction
		if err := DecodeInteraction([]byte(in), &got); err != nil {
			t.Fatalf("DecodeInteraction(%s): %v", in, err)
		}
		if got != want {
			t.Fatalf("DecodeInteraction(%s) = %+v, want %+v", in, got, want)
		}
	}
	f(`{"user_id":"u123","timestamp":"2023-07-01T14:30:15.000Z","action_type":"page_view","page_id":"p456","duration_ms":12000,"app_version":"5.7.3"}`, want)
	// Any key order, whitespace, unknown keys, other RFC 3339 forms.
	f(` { "app_version" : "5.7.3", "extra": [1, {"a": null}], "duration_ms": 12000, "page_id": "p456",
	  "action_type": "page_view", "timestamp": "2023-07-01T16:30:15+02:00", "user_id": "u123" } `, want)
	// Escapes.
	esc := want
	esc.UserID, esc.PageID = "u\"1\n", "p/é"
	f(`{"user_id":"u\"1\u000a","timestamp":"2023-07-01T14:30:15.000Z","action_type":"page_view","page_id":"p\/\u00e9","duration_ms":12000,"app_version":"5.7.3"}`, esc)
	// Sub-millisecond digits are truncated; negative durations are readable (the rules reject them later).
	neg := want
	neg.Time += 999
	neg.DurationMs = -5
	f(`{"user_id":"u123","timestamp":"2023-07-01T14:30:15.999999Z","action_type":"page_view","page_id":"p456","duration_ms":-5,"app_version":"5.7.3"}`, neg)
}

func TestDecodeInteractionErrors(t *testing.T) {
	valid := `{"user_id":"u","timestamp":"2023-07-01T14:30:15.000Z","action_type":"edit","page_id":"p","duration_ms":1,"app_version":"v"}`
	f := func(in string, want error) {
		t.Helper()
		var got event.Interaction
		err := DecodeInteraction([]byte(in), &got)
		if err == nil {
			t.Fatalf("DecodeInteraction(%s) = %+v, want an error", in, got)
		}
		if want != nil && !errors.Is(err, want) {
			t.Fatalf("DecodeInteraction(%s) = %v, want %v", in, err, want)
		}
	}
	f(``, nil)
	f(`null`, ErrInvalidField)
	f(`[]`, nil)
	f(valid+`x`, nil)
	f(strings.Replace(valid, `"user_id":"u",`, ``, 1), ErrMissingField)
	f(strings.Replace(valid, `"u"`, `null`, 1), ErrMissingField)
	f(strings.Replace(valid, `"u"`, `5`, 1), ErrInvalidField)
	f(strings.Replace(valid, `"edit"`, `true`, 1), ErrInvalidField)
	f(strings.Replace(valid, `:1,`, `:1.5,`, 1), ErrInvalidField)
	f(strings.Replace(valid, `:1,`, `:"1",`, 1), ErrInvalidField)
	f(strings.Replace(valid, `:1,`, `:1e3,`, 1), ErrInvalidField)
	f(strings.Replace(valid, `:1,`, `:99999999999999999999,`, 1), ErrInvalidField)
	f(strings.Replace(valid, `"duration_ms":1,`, ``, 1), ErrMissingField)
	f(strings.Replace(valid, `2023-07-01T14:30:15.000Z`, `2023-07-01 14:30:15`, 1), ErrInvalidField)
	f(strings.Replace(valid, `2023-07-01T14:30:15.000Z`, `2023-02-30T14:30:15.000Z`, 1), ErrInvalidField)
	f(strings.Replace(valid, `2023-07-01T14:30:15.000Z`, `2023-07-01T24:30:15.000Z`, 1), ErrInvalidField)
	f(strings.Replace(valid, `"timestamp"`, `"Timestamp"`, 1), ErrMissingField)
}

func TestDecodeUser(t *testing.T) {
	want := event.User{UserID: "u1", JoinDate: "2022-01-15", Country: "US", DeviceType: "iPad", SubscriptionType: "premium"}
	var got event.User
	in := `{"subscription_type":"premium","device_type":"iPad","country":"US","join_date":"2022-01-15","user_id":"u1","x":1}`
	if err := DecodeUser([]byte(in), &got); err != nil || got != want {
		t.Fatalf("DecodeUser = %+v, %v", got, err)
	}
	for _, bad := range []string{
		`{"user_id":"u1","join_date":"2022-13-15","country":"US","device_type":"iPad","subscription_type":"premium"}`,
		`{"user_id":"u1","join_date":"2022-1-15","country":"US","device_type":"iPad","subscription_type":"premium"}`,
		`{"user_id":"u1","join_date":"2022-01-15","country":"US","device_type":"iPad"}`,
		`{"user_id":"u1","join_date":"2022-01-15","country":null,"device_type":"iPad","subscription_type":"premium"}`,
	} {
		if err := DecodeUser([]byte(bad), &got); err == nil {
			t.Fatalf("DecodeUser(%s) accepted", bad)
		}
	}
}

func TestDecodeControl(t *testing.T) {
	f := func(in string, want Control) {
		t.Helper()
		got, err := DecodeControl([]byte(in))
		if err != nil || got != want {
			t.Fatalf("DecodeControl(%s) = %+v, %v, want %+v", in, got, err, want)
		}
	}
	at := ms("2023-07-01T14:30:15Z")
	f(`{"kind":"end","event_time":"2023-07-01T14:30:15.000Z"}`, Control{Kind: ControlEnd, EventTime: at})
	f(`{"event_time":"2023-07-01T14:30:15Z"}`, Control{EventTime: at})
	if _, err := DecodeControl([]byte(`{"kind":"end"}`)); !errors.Is(err, ErrMissingField) {
		t.Fatalf("DecodeControl without event_time: %v", err)
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	in := event.Interaction{UserID: "u123", Time: 1688221815000, Action: "page_view", PageID: "p\"456", DurationMs: 12000, AppVersion: "5.7.3"}
	u := event.User{UserID: "u123", JoinDate: "2022-01-15", Country: "US", DeviceType: "iPad", SubscriptionType: "premium"}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendInteraction(buf[:0], &in)
		buf = AppendUser(buf[:0], &u)
		buf = AppendControl(buf[:0], Control{Kind: ControlEnd, EventTime: in.Time})
	}); n != 0 {
		t.Fatalf("Append functions allocate %v times", n)
	}
}

// sanitize replaces each invalid UTF-8 byte with U+FFFD, as encoding/json does.
func sanitize(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		sb.WriteRune(r)
		i += size
	}
	return sb.String()
}

// Times the CSV formats can express: years 0000 to 9999.
const (
	minTime = -62167219200000
	maxTime = 253402300799999
)

func clampTime(t int64) int64 {
	if t < minTime || t > maxTime {
		return minTime + int64(uint64(t)%uint64(maxTime-minTime+1))
	}
	return t
}

func FuzzInteractionRoundTrip(f *testing.F) {
	f.Add("u123", int64(1688221815000), "page_view", "p456", int64(12000), "5.7.3")
	f.Add("u\"\\\n\x00", int64(-1), "EDIT", "\xff\xfe", int64(-7), "\u2028é")
	f.Fuzz(func(t *testing.T, user string, ts int64, action, page string, duration int64, version string) {
		in := event.Interaction{UserID: user, Time: clampTime(ts), Action: action, PageID: page, DurationMs: duration, AppVersion: version}
		b := AppendInteraction(nil, &in)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON %s", b)
		}
		var got event.Interaction
		if err := DecodeInteraction(b, &got); err != nil {
			t.Fatalf("DecodeInteraction(%s): %v", b, err)
		}
		want := in
		want.UserID, want.Action, want.PageID, want.AppVersion = sanitize(user), sanitize(action), sanitize(page), sanitize(version)
		if got != want {
			t.Fatalf("round trip of %+v gave %+v", want, got)
		}
	})
}

func FuzzUserRoundTrip(f *testing.F) {
	f.Add("u1", int64(1642204800000), "US", "iPad", "premium")
	f.Add("", int64(0), "\x7f\"", "\xc3", "\t")
	f.Fuzz(func(t *testing.T, user string, joined int64, country, device, sub string) {
		u := event.User{UserID: user, JoinDate: time.UnixMilli(clampTime(joined)).UTC().Format(time.DateOnly),
			Country: country, DeviceType: device, SubscriptionType: sub}
		b := AppendUser(nil, &u)
		var got event.User
		if err := DecodeUser(b, &got); err != nil {
			t.Fatalf("DecodeUser(%s): %v", b, err)
		}
		want := u
		want.UserID, want.Country, want.DeviceType, want.SubscriptionType = sanitize(user), sanitize(country), sanitize(device), sanitize(sub)
		if got != want {
			t.Fatalf("round trip of %+v gave %+v", want, got)
		}
	})
}

func FuzzControlRoundTrip(f *testing.F) {
	f.Add("progress", int64(1688221815000))
	f.Add("end", int64(0))
	f.Fuzz(func(t *testing.T, kind string, ts int64) {
		c := Control{Kind: kind, EventTime: clampTime(ts)}
		got, err := DecodeControl(AppendControl(nil, c))
		c.Kind = sanitize(kind)
		if err != nil || got != c {
			t.Fatalf("round trip of %+v gave %+v, %v", c, got, err)
		}
	})
}

// FuzzDecodeFastMatchesSlow feeds arbitrary bytes to the decoders: they must not panic, and whatever a
// fast path accepts the general path must decode identically.
func FuzzDecodeFastMatchesSlow(f *testing.F) {
	f.Add([]byte(`{"user_id":"u123","timestamp":"2023-07-01T14:30:15.000Z","action_type":"page_view","page_id":"p456","duration_ms":12000,"app_version":"5.7.3"}`))
	f.Add([]byte(`{"user_id":"u1","join_date":"2022-01-15","country":"US","device_type":"iPad","subscription_type":"premium"}`))
	f.Add([]byte(`{"kind":"end","event_time":"2023-07-01T14:30:15.000Z"}`))
	f.Add([]byte(`{"user_id":"u123","timestamp":"2023-02-29T14:30:15.000Z","action_type":"page_view","page_id":"p456","duration_ms":-0,"app_version":"5.7.3"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, slow event.Interaction
		if decodeInteractionFast(b, &fast) {
			if err := decodeInteractionSlow(b, &slow); err != nil || fast != slow {
				t.Fatalf("interaction %q: fast %+v, slow %+v, %v", b, fast, slow, err)
			}
		}
		_ = DecodeInteraction(b, &slow)
		var fu, su event.User
		if decodeUserFast(b, &fu) {
			if err := decodeUserSlow(b, &su); err != nil || fu != su {
				t.Fatalf("user %q: fast %+v, slow %+v, %v", b, fu, su, err)
			}
		}
		_ = DecodeUser(b, &su)
		var fc Control
		if decodeControlFast(b, &fc) {
			if sc, err := decodeControlSlow(b); err != nil || fc != sc {
				t.Fatalf("control %q: fast %+v, slow %+v, %v", b, fc, sc, err)
			}
		}
		_, _ = DecodeControl(b)
	})
}
