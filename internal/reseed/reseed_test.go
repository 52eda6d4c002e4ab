package reseed_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/reseed"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/notestream/notestream/internal/rtstore"
	"github.com/notestream/notestream/internal/tables"
	"github.com/notestream/notestream/internal/testenv"
)

// user is a test user and its segments.
type user struct{ id, country, device, plan string }

var users = []user{
	{"u1", "US", "iPad", "premium"},
	{"u2", "US", "Android", "free"},
	{"u3", "DE", "iPad", "free"},
	{"u4", "unknown", "unknown", "unknown"},
	{"u|5", "F|R", "Mac", "team"}, // "|" inside values: field names split at the last one
}

// session is one session of a test day: user index, start offset and duration in ms, actions.
type session struct {
	user            int
	start, duration int64
	actions         int64
}

// testDays are three days of sessions, the second without any (a day whose events were all invalid).
var testDays = map[string][]session{
	"2023-03-01": {{0, 0, 60_000, 3}, {0, 3_600_000, 0, 1}, {1, 100, 1_234_567, 7}, {4, 5, 999, 2}},
	"2023-03-02": {},
	"2023-03-03": {{2, 0, 10, 2}, {3, 50_000, 7_000_001, 11}, {0, 9, 1, 2}},
}

// interactions are a test day's valid events: each session's actions, and an event of user u2 that no
// session holds (a late one: the lake counts it in engaged time, not in sessions).
func interactions(day time.Time, sessions []session) []tables.SilverInteraction {
	var rows []tables.SilverInteraction
	for _, s := range sessions {
		for k := range s.actions {
			rows = append(rows, tables.SilverInteraction{UserID: users[s.user].id, Timestamp: day.UnixMilli() + s.start + k,
				ActionType: "edit", PageID: "p", DurationMs: s.duration/s.actions + k, AppVersion: "1.0"})
		}
	}
	if len(sessions) > 0 {
		rows = append(rows, tables.SilverInteraction{UserID: users[1].id, Timestamp: day.UnixMilli(), ActionType: "view", PageID: "p", DurationMs: 3})
	}
	return rows
}

// writeLake writes a lake as the compactor lays it out: _state/state.json, and per day
// gold/daily_sketches, silver/sessions and silver/interactions built from days.
func writeLake(t *testing.T, dir string, days map[string][]session) {
	t.Helper()
	put(t, filepath.Join(dir, tables.StateKey), []byte(`{"version":1,"run":1,"tz":"UTC","offsets":{},"max_event_time":{}}`))
	for date, sessions := range days {
		day, err := time.Parse(time.DateOnly, date)
		if err != nil {
			t.Fatal(err)
		}
		sketches := map[[2]string]*hll.Sketch{{"all", "all"}: hll.New()}
		var rows []tables.SilverSession
		for i, s := range sessions {
			u := users[s.user]
			start := day.UnixMilli() + s.start
			rows = append(rows, tables.SilverSession{
				SessionID: fmt.Sprint(i), UserID: u.id, Start: start, End: start + s.duration,
				DurationS: metric.DurationS(start, start+s.duration), Actions: s.actions, EngagedMs: 1,
				Country: u.country, DeviceType: u.device, SubscriptionType: u.plan,
			})
			for _, k := range [][2]string{{"all", "all"}, {"country", u.country}, {"device_type", u.device}, {"subscription_type", u.plan}} {
				if sketches[k] == nil {
					sketches[k] = hll.New()
				}
				sketches[k].AddString(u.id)
			}
		}
		var sk []tables.DailySketch
		for k, s := range sketches {
			sk = append(sk, tables.DailySketch{Dimension: k[0], Value: k[1], HLL: s.AppendRedis(nil)})
		}
		writeParquet(t, filepath.Join(dir, tables.SilverSessions, "date="+date, "part-0.parquet"), rows)
		writeParquet(t, filepath.Join(dir, tables.SilverInteractions, "date="+date, "part-0.parquet"), interactions(day, sessions))
		writeParquet(t, filepath.Join(dir, tables.GoldDailySketches, "date="+date, "part-0.parquet"), sk)
	}
}

func writeParquet[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// env is a lake directory and a Redis server.
type env struct {
	dir   string
	lake  lake.Store
	rdb   *redis.Client
	store *rtstore.Store
}

func newEnv(t *testing.T, days map[string][]session) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	writeLake(t, e.dir, days)
	var err error
	if e.lake, err = lake.NewDir(e.dir); err != nil {
		t.Fatal(err)
	}
	srv := testenv.StartRedis(t)
	e.rdb = redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { e.rdb.Close() })
	if e.store, err = rtstore.New(e.rdb, rtstore.Config{}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) run(t *testing.T, cfg reseed.Config) (reseed.Summary, error) {
	t.Helper()
	return reseed.Run(t.Context(), e.lake, e.store, cfg)
}

// dump is every key of Redis with its type and value; daily keys must have a TTL.
func (e *env) dump(t *testing.T) map[string]string {
	t.Helper()
	ctx := t.Context()
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		typ := e.rdb.Type(ctx, k).Val()
		var v any
		switch typ {
		case "string":
			v = e.rdb.Get(ctx, k).Val()
		case "hash":
			v = e.rdb.HGetAll(ctx, k).Val()
		case "set":
			m := e.rdb.SMembers(ctx, k).Val()
			slices.Sort(m)
			v = m
		}
		out[k] = fmt.Sprintf("%s %q", typ, v)
		daily := strings.Contains(k, ":u:") || strings.Contains(k, ":c:") || strings.Contains(k, ":pe:") || strings.Contains(k, ":pn:")
		if ttl := e.rdb.TTL(ctx, k).Val(); daily && ttl <= 0 {
			t.Errorf("%s has no TTL (%v)", k, ttl)
		}
	}
	return out
}

// checkAnswers compares the API's read path with answers computed for days straight from the test sessions: session sums per day and
// segment, and the distinct users of a day, which the sketch of so few users counts exactly.
func checkAnswers(t *testing.T, st *rtstore.Store, days map[string][]session) {
	t.Helper()
	ctx := t.Context()
	for date, sessions := range days {
		day, _ := event.ParseDate(date)
		want := map[rtstate.Segment]*metric.Sessions{{}: {}}
		active := map[rtstate.Segment]map[string]bool{{}: {}}
		for _, s := range sessions {
			u := users[s.user]
			for _, seg := range []rtstate.Segment{{}, {Dimension: "country", Value: u.country}, {Dimension: "device_type", Value: u.device}, {Dimension: "subscription_type", Value: u.plan}} {
				if want[seg] == nil {
					want[seg], active[seg] = &metric.Sessions{}, map[string]bool{}
				}
				want[seg].Add(s.duration, s.actions)
				active[seg][u.id] = true
			}
		}
		for seg, w := range want {
			got, err := st.Sessions(ctx, day, seg)
			if err != nil {
				t.Fatal(err)
			}
			if got != *w {
				t.Errorf("%s %s: sessions %+v, want %+v", date, seg, got, *w)
			}
			n, err := st.Active(ctx, day, day, seg)
			if err != nil {
				t.Fatal(err)
			}
			if n != uint64(len(active[seg])) {
				t.Errorf("%s %s: %d active, want %d", date, seg, n, len(active[seg]))
			}
		}
	}
}

// checkPowerUsers compares each month's power-user state with the users' engaged_ms and events
// summed straight from the test days' events.
func checkPowerUsers(t *testing.T, st *rtstore.Store, days map[string][]session) {
	t.Helper()
	want := map[string]map[string]engagement.User{}
	for date, sessions := range days {
		day, _ := time.Parse(time.DateOnly, date)
		month := date[:7]
		if want[month] == nil {
			want[month] = map[string]engagement.User{}
		}
		for _, ev := range interactions(day, sessions) {
			u := want[month][ev.UserID]
			u.UserID = ev.UserID
			u.EngagedMs += ev.DurationMs
			u.Events++
			want[month][ev.UserID] = u
		}
	}
	for month, w := range want {
		got, err := st.MonthUsers(t.Context(), month)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b engagement.User) int { return strings.Compare(a.UserID, b.UserID) })
		if ws := slices.SortedFunc(maps.Values(w), func(a, b engagement.User) int { return strings.Compare(a.UserID, b.UserID) }); !slices.Equal(got, ws) {
			t.Errorf("%s: power-user state %+v, want %+v", month, got, ws)
		}
	}
}

func TestReseedWritesTheLakeAndTwiceChangesNothing(t *testing.T) {
	e := newEnv(t, testDays)
	sum, err := e.run(t, reseed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Days != 3 || sum.Sessions != 7 || event.Date(sum.From) != "2023-03-01" || event.Date(sum.Through) != "2023-03-03" || sum.ConsumerHolds {
		t.Errorf("summary %+v", sum)
	}
	checkAnswers(t, e.store, testDays)
	checkPowerUsers(t, e.store, testDays)
	if sum.Months != 1 || sum.UserMonths != 5 {
		t.Errorf("summary %+v: want one month of 5 users", sum)
	}
	// Three days of everyone plus segments: u1, u2, u3, u4 and u|5 across the three days.
	if n, err := e.store.Active(t.Context(), sum.From, sum.Through, rtstate.Segment{}); err != nil || n != 5 {
		t.Errorf("active over the three days = %d, %v; want 5", n, err)
	}
	first := e.dump(t)
	sum2, err := e.run(t, reseed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if sum2 != sum {
		t.Errorf("second summary %+v, first %+v", sum2, sum)
	}
	if second := e.dump(t); !maps.Equal(first, second) {
		t.Errorf("a second run changed Redis:\nfirst  %v\nsecond %v", first, second)
	}
}

// TestReseedReplacesAnEarlierRun: after the lake changes (a backfill), a run leaves Redis as a first
// run on the new lake would, with no key of the old one left over.
func TestReseedReplacesAnEarlierRun(t *testing.T) {
	e := newEnv(t, testDays)
	if _, err := e.run(t, reseed.Config{}); err != nil {
		t.Fatal(err)
	}
	changed := map[string][]session{
		"2023-03-01": {{1, 100, 1_234_567, 7}}, // segments of u1 and u|5 gone
		"2023-03-02": {{2, 0, 5, 2}},
		"2023-03-03": {{3, 0, 5, 1}},
	}
	if err := os.RemoveAll(filepath.Join(e.dir, "gold")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(e.dir, "silver")); err != nil {
		t.Fatal(err)
	}
	writeLake(t, e.dir, changed)
	sum, err := e.run(t, reseed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Days != 3 || sum.Removed != 0 {
		t.Errorf("summary %+v", sum)
	}
	checkAnswers(t, e.store, changed)
	checkPowerUsers(t, e.store, changed)

	fresh := newEnv(t, changed)
	if _, err := fresh.run(t, reseed.Config{}); err != nil {
		t.Fatal(err)
	}
	got, want := e.dump(t), fresh.dump(t)
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("left over from the earlier run: %s", k)
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, a fresh run writes %s", k, got[k], v)
		}
	}

	// A narrower range removes the days it no longer writes.
	sum, err = e.run(t, reseed.Config{Through: "2023-03-01"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Days != 1 || sum.Removed != 2 {
		t.Errorf("summary of --through 2023-03-01: %+v", sum)
	}
	day2, _ := event.ParseDate("2023-03-02")
	if s, err := e.store.Sessions(t.Context(), day2, rtstate.Segment{}); err != nil || s.Count != 0 {
		t.Errorf("2023-03-02 after --through 2023-03-01: %+v, %v", s, err)
	}
	checkPowerUsers(t, e.store, map[string][]session{"2023-03-01": changed["2023-03-01"]})
}

// TestReseedRestoresMonths: the power-user state of every month of the days written, and none of a
// month whose days a narrower run no longer writes.
func TestReseedRestoresMonths(t *testing.T) {
	days := map[string][]session{
		"2023-02-27": {{0, 0, 100, 2}, {1, 5, 7, 1}},
		"2023-02-28": {{0, 0, 1_000, 4}},
		"2023-03-01": {{2, 0, 50, 5}, {4, 9, 9, 3}},
	}
	e := newEnv(t, days)
	sum, err := e.run(t, reseed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Months != 2 || sum.UserMonths != 2+3 {
		t.Errorf("summary %+v: want 2 months, of 2 and 3 users", sum)
	}
	checkPowerUsers(t, e.store, days)

	feb := map[string][]session{"2023-02-27": days["2023-02-27"], "2023-02-28": days["2023-02-28"]}
	if sum, err = e.run(t, reseed.Config{Through: "2023-02-28"}); err != nil {
		t.Fatal(err)
	}
	if sum.Months != 1 || sum.Removed != 1 {
		t.Errorf("summary of --through 2023-02-28: %+v", sum)
	}
	checkPowerUsers(t, e.store, feb)
	if got, err := e.store.MonthUsers(t.Context(), "2023-03"); err != nil || len(got) != 0 {
		t.Errorf("2023-03 after --through 2023-02-28: %+v, %v; want nothing", got, err)
	}
}

// consumerCheckpoint writes what a consumer owning partition 3 writes for day date.
func consumerCheckpoint(t *testing.T, st *rtstore.Store, date string) {
	t.Helper()
	day, _ := event.ParseDate(date)
	if _, err := st.Load(t.Context(), 3); err != nil {
		t.Fatal(err)
	}
	var sk hll.Sketch
	sk.AddString("u1")
	err := st.Commit(t.Context(), &rtstate.Commit{Partition: 3, Expect: -1, Offset: 5, Owner: "c", Cells: []rtstate.Cell{
		{Day: day, Users: sk.AppendRedis(nil), Counts: rtstate.Counts{Sessions: metric.Sessions{Count: 1, DurationMs: 10, Actions: 2}, Valid: 2}},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReseedRefusesDaysConsumersHold(t *testing.T) {
	e := newEnv(t, testDays)
	consumerCheckpoint(t, e.store, "2023-03-03")
	before := e.dump(t)

	_, err := e.run(t, reseed.Config{Through: "2023-03-03"})
	if !errors.Is(err, reseed.ErrConsumerDays) || !strings.Contains(err.Error(), "2023-03-03") {
		t.Fatalf("run over a day a consumer holds: %v, want ErrConsumerDays naming 2023-03-03", err)
	}
	if after := e.dump(t); !maps.Equal(before, after) {
		t.Errorf("a refused run changed Redis:\nbefore %v\nafter  %v", before, after)
	}

	// Without --through it stops before the consumers' first day.
	sum, err := e.run(t, reseed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Days != 2 || event.Date(sum.Through) != "2023-03-02" || !sum.ConsumerHolds || event.Date(sum.ConsumerFirst) != "2023-03-03" {
		t.Errorf("summary %+v", sum)
	}
	day3, _ := event.ParseDate("2023-03-03")
	if s, err := e.store.Sessions(t.Context(), day3, rtstate.Segment{}); err != nil || s != (metric.Sessions{Count: 1, DurationMs: 10, Actions: 2}) {
		t.Errorf("2023-03-03 = %+v, %v; want the consumer's alone", s, err)
	}

	// --force writes it anyway: the sums add up.
	if _, err := e.run(t, reseed.Config{Force: true, Through: "2023-03-03"}); err != nil {
		t.Fatal(err)
	}
	if s, err := e.store.Sessions(t.Context(), day3, rtstate.Segment{}); err != nil || s.Count != 1+3 {
		t.Errorf("2023-03-03 after --force = %+v, %v; want the consumer's and the lake's 3", s, err)
	}
}

func TestReseedBadLakeWritesNothing(t *testing.T) {
	f := func(name, want string, cfg reseed.Config, spoil func(dir string)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testDays)
			spoil(e.dir)
			_, err := e.run(t, cfg)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want one containing %q", err, want)
			}
			if n := e.rdb.DBSize(t.Context()).Val(); n != 0 {
				t.Errorf("a failed run left %d keys", n)
			}
		})
	}
	remove := func(rel string) func(string) {
		return func(dir string) {
			if err := os.RemoveAll(filepath.Join(dir, rel)); err != nil {
				t.Fatal(err)
			}
		}
	}
	f("no sketches", "the lake has no gold/daily_sketches table", reseed.Config{}, remove("gold/daily_sketches"))
	f("no sessions", "the lake has no silver/sessions table", reseed.Config{}, remove("silver/sessions"))
	f("no interactions", "the lake has no silver/interactions table", reseed.Config{}, remove("silver/interactions"))
	f("no state", "not a lake `compactor run` wrote", reseed.Config{}, remove("_state"))
	f("a day without sessions", "the lake has gold/daily_sketches for 2023-03-03 but no silver/sessions", reseed.Config{}, remove("silver/sessions/date=2023-03-03"))
	f("a day without interactions", "the lake has gold/daily_sketches for 2023-03-03 but no silver/interactions", reseed.Config{}, remove("silver/interactions/date=2023-03-03"))
	f("a day without sketches", "the lake has silver/interactions for 2023-03-04 but no gold/daily_sketches", reseed.Config{}, func(dir string) {
		writeParquet(t, filepath.Join(dir, "silver/interactions/date=2023-03-04/part-0.parquet"), []tables.SilverInteraction{})
	})
	f("another zone", `time zone "Europe/Berlin"`, reseed.Config{}, func(dir string) {
		put(t, filepath.Join(dir, tables.StateKey), []byte(`{"version":1,"tz":"Europe/Berlin"}`))
	})
	f("a crashed run", "did not finish (1 days still to rebuild)", reseed.Config{}, func(dir string) {
		put(t, filepath.Join(dir, tables.StateKey), []byte(`{"version":1,"tz":"UTC","pending_days":[19417]}`))
	})
	f("from after through", "from 2023-03-02 is after through 2023-03-01", reseed.Config{From: "2023-03-02", Through: "2023-03-01"}, func(string) {})
	f("a broken file", "silver/sessions/date=2023-03-03/part-0.parquet: not a parquet file", reseed.Config{}, func(dir string) {
		put(t, filepath.Join(dir, "silver/sessions/date=2023-03-03/part-0.parquet"), []byte("PAR1 not really"))
	})
	f("a file lacking a column", "gold/daily_sketches/date=2023-03-03/part-0.parquet: no column hll", reseed.Config{}, func(dir string) {
		type noHLL struct {
			Dimension string `parquet:"dimension"`
			Value     string `parquet:"value"`
		}
		writeParquet(t, filepath.Join(dir, "gold/daily_sketches/date=2023-03-03/part-0.parquet"), []noHLL{{"all", "all"}})
	})
	f("an interactions file lacking a column", "silver/interactions/date=2023-03-03/part-0.parquet: no column duration_ms", reseed.Config{}, func(dir string) {
		type noDuration struct {
			UserID     string `parquet:"user_id"`
			Timestamp  int64  `parquet:"timestamp,timestamp(millisecond)"`
			ActionType string `parquet:"action_type"`
			PageID     string `parquet:"page_id"`
			AppVersion string `parquet:"app_version"`
		}
		writeParquet(t, filepath.Join(dir, "silver/interactions/date=2023-03-03/part-0.parquet"), []noDuration{{UserID: "u1"}})
	})
	f("a negative duration", "an event of u1 lasts -5 ms", reseed.Config{}, func(dir string) {
		writeParquet(t, filepath.Join(dir, "silver/interactions/date=2023-03-03/part-0.parquet"), []tables.SilverInteraction{{UserID: "u1", DurationMs: -5}})
	})
	f("a bad sketch", "sketch of all", reseed.Config{}, func(dir string) {
		writeParquet(t, filepath.Join(dir, "gold/daily_sketches/date=2023-03-03/part-0.parquet"), []tables.DailySketch{{Dimension: "all", Value: "all", HLL: []byte("HYLL?")}})
	})
	f("an unknown dimension", `unknown segment "os"="ios"`, reseed.Config{}, func(dir string) {
		writeParquet(t, filepath.Join(dir, "gold/daily_sketches/date=2023-03-03/part-0.parquet"), []tables.DailySketch{{Dimension: "os", Value: "ios", HLL: hll.New().AppendRedis(nil)}})
	})
}
