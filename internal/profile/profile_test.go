package profile

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const interactionsCSV = `user_id,timestamp,action_type,page_id,duration_ms,app_version
u1,2023-07-01 10:00:00,page_view,p1,1000,5.7.3
u1,2023-07-01 10:05:00,EDIT,p1,60000,5.7.3
u1,2023-07-01 10:05:00,edit,p1,60000,5.7.3
u2,2023-07-01 11:00:00,share,p2,0,
u2,2023-07-02T11:00:00Z,fly,p2,10,5.8.0
u3,2023-07-03 09:00:00,create,,9000000,5.8.0
,2023-07-03 09:00:00,create,p3,10,5.8.0
u4,yesterday,create,p3,10,5.8.0
u4,2023-07-03 09:00:00,create,p3,ten,5.8.0
u4,2023-07-03 09:00:00,create
`

const usersCSV = `user_id,join_date,country,device_type,subscription_type
u1,2022-01-15,US,iPad,premium
u2,2022-02-01,DE,Android,free
u2,2022-02-01,DE,iPhone,free
u9,soon,FR,Web,free
`

func TestProfile(t *testing.T) {
	users, ids, err := Users(strings.NewReader(usersCSV), "user_metadata.csv")
	if err != nil {
		t.Fatal(err)
	}
	if users.Rows != 4 || users.Readable != 3 || users.Rejected["bad_date"] != 1 || users.DuplicateUsers != 1 {
		t.Fatalf("users: %+v", users)
	}
	if len(ids) != 2 || !ids["u1"] || !ids["u2"] {
		t.Fatalf("user ids: %v", ids)
	}
	country := findColumn(t, users, "country")
	if country.Distinct != 2 || country.Top[0] != (ValueCount{"DE", 2}) {
		t.Fatalf("country: %+v", country)
	}

	rep, err := Interactions(strings.NewReader(interactionsCSV), "user_interactions.csv", ids)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 10 || rep.Readable != 6 || rep.ValidEvents != 3 {
		t.Fatalf("rows %d readable %d valid %d, want 10 6 3", rep.Rows, rep.Readable, rep.ValidEvents)
	}
	wantRejected := map[string]int64{"missing_user_id": 1, "bad_timestamp": 1, "bad_duration": 1, "malformed": 1}
	if !maps.Equal(rep.Rejected, wantRejected) {
		t.Fatalf("rejected %v, want %v", rep.Rejected, wantRejected)
	}
	wantInvalid := map[string]int64{"unknown_action": 1, "duration_out_of_range": 1, "duplicate": 1}
	if !maps.Equal(rep.RuleInvalid, wantInvalid) {
		t.Fatalf("rule-invalid %v, want %v", rep.RuleInvalid, wantInvalid)
	}
	if rep.UsersWithoutMetadata == nil || *rep.UsersWithoutMetadata != 0 {
		t.Fatalf("users without metadata: %v", rep.UsersWithoutMetadata)
	}

	ts := findColumn(t, rep, "timestamp")
	if ts.Min != "2023-07-01T10:00:00.000Z" || ts.Max != "2023-07-03T09:00:00.000Z" || ts.Distinct != 5 {
		t.Fatalf("timestamp: %+v", ts)
	}
	action := findColumn(t, rep, "action_type")
	if action.Distinct != 6 || action.Min != "EDIT" || action.Max != "share" {
		t.Fatalf("action_type (raw values, before canonicalisation): %+v", action)
	}
	if page := findColumn(t, rep, "page_id"); page.Empty != 1 || page.Top[0] != (ValueCount{"p1", 3}) {
		t.Fatalf("page_id: %+v", page)
	}
	if v := findColumn(t, rep, "app_version"); v.Empty != 1 || v.Distinct != 3 {
		t.Fatalf("app_version: %+v", v)
	}
	if d := findColumn(t, rep, "duration_ms"); d.Min != "0" || d.Max != "9000000" {
		t.Fatalf("duration_ms: %+v", d)
	}

	durations := findHistogram(t, rep, "duration_ms")
	// Buckets: ≤-1, 0, 1–1000, …; 60000 twice in "30001–60000", 9000000 in the open bucket.
	counts := map[string]int64{}
	for _, b := range durations.Buckets {
		counts[b.Label] = b.Count
	}
	if counts["0ms"] != 1 || counts["1ms – 1s"] != 2 || counts["30001ms – 1m"] != 2 || counts["> 2h"] != 1 || counts["1001ms – 5s"] != 0 {
		t.Fatalf("duration histogram: %v", counts)
	}
	perUser := findHistogram(t, rep, "valid_events_per_user")
	if perUser.Buckets[0].Count != 1 || perUser.Buckets[1].Count != 1 {
		t.Fatalf("events per user (u2: 1, u1: 2): %+v", perUser.Buckets[:3])
	}

	dir := t.TempDir()
	if err := WriteFiles(dir, "interactions", rep); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "interactions.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Profile of `user_interactions.csv`", "| 10 | 6 | 4 | 3 | 3 |", "| `duplicate` | 1 |", "| `page_id` | 1 | 3 | *(empty)* | `p2` |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	js, err := os.ReadFile(filepath.Join(dir, "interactions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil || back.ValidEvents != 3 || len(back.Columns) != 6 {
		t.Fatalf("json round trip: %v %+v", err, back)
	}
}

func TestFormatMs(t *testing.T) {
	f := func(ms int64, want string) {
		t.Helper()
		if got := formatMs(ms); got != want {
			t.Fatalf("formatMs(%d) = %q, want %q", ms, got, want)
		}
	}
	f(-1, "-1ms")
	f(0, "0ms")
	f(1500, "1500ms")
	f(30_000, "30s")
	f(300_000, "5m")
	f(7_200_000, "2h")
}

func findColumn(t *testing.T, rep *Report, name string) Column {
	t.Helper()
	for _, c := range rep.Columns {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no column %q", name)
	return Column{}
}

func findHistogram(t *testing.T, rep *Report, name string) Histogram {
	t.Helper()
	for _, h := range rep.Histograms {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no histogram %q", name)
	return Histogram{}
}

func TestIntColumn(t *testing.T) {
	var c intColumn
	for _, v := range []int64{5, 3, 5, 9, 3, 1, 5, 12, 11, 10, 8, 7, 6, 4, 2, 13} {
		c.add(v)
	}
	col := c.column("n", formatInt)
	if col.Distinct != 13 || col.Min != "1" || col.Max != "13" {
		t.Fatalf("distinct %d min %s max %s, want 13 1 13", col.Distinct, col.Min, col.Max)
	}
	want := []ValueCount{{"5", 3}, {"3", 2}, {"1", 1}, {"2", 1}, {"4", 1}, {"6", 1}, {"7", 1}, {"8", 1}, {"9", 1}, {"10", 1}}
	if !slices.Equal(col.Top, want) {
		t.Fatalf("top %v, want %v", col.Top, want)
	}
}
