package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/reference"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/notestream/notestream/internal/rtstore"
	"github.com/notestream/notestream/internal/testenv"
)

// dataset writes a synthetic pair of CSV files: events in time order (no event is late), about 1% of
// rows rule-invalid, a tenth of the users without metadata.
func dataset(t testing.TB, users, events int, days int, seed uint64) (interactions, metadata string) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	countries := []string{"US", "DE", "FR", "IN", "BR"}
	devices := []string{"iPad", "iPhone", "Android", "Web"}
	subs := []string{"free", "premium", "team"}
	var mb strings.Builder
	mb.WriteString("user_id,join_date,country,device_type,subscription_type\n")
	for u := range users {
		if u%10 == 9 {
			continue
		}
		fmt.Fprintf(&mb, "u%d,2022-%02d-%02d,%s,%s,%s\n", u, 1+u%12, 1+u%28,
			countries[rng.IntN(len(countries))], devices[rng.IntN(len(devices))], subs[rng.IntN(len(subs))])
	}
	metadata = filepath.Join(dir, "user_metadata.csv")
	if err := os.WriteFile(metadata, []byte(mb.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	type row struct {
		user         int
		ms           int64
		action, page string
		duration     int64
	}
	start := time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	span := int64(days) * 86400_000
	actions := []string{"page_view", "edit", "create", "delete", "share", "PAGE_VIEW"}
	rows := make([]row, 0, events)
	for len(rows) < events {
		// A burst of a user's events with gaps of seconds to an hour.
		u := rng.IntN(users)
		t0 := start + rng.Int64N(span)
		n := 1 + rng.IntN(20)
		for range n {
			if t0 >= start+span || len(rows) == events {
				break
			}
			rows = append(rows, row{u, t0, actions[rng.IntN(len(actions))], fmt.Sprintf("p%d", rng.IntN(500)), rng.Int64N(60_000)})
			t0 += 1000 * int64(rng.ExpFloat64()*240)
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return int(a.ms - b.ms) })
	f, err := os.Create(filepath.Join(dir, "user_interactions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("user_id,timestamp,action_type,page_id,duration_ms,app_version\n")
	for i, r := range rows {
		action, duration := r.action, r.duration
		switch i % 100 {
		case 17:
			action = "hover"
		case 53:
			duration = -5
		}
		line := fmt.Sprintf("u%d,%s,%s,%s,%d,5.7.%d\n", r.user, time.UnixMilli(r.ms).UTC().Format("2006-01-02 15:04:05"),
			action, r.page, duration, i%3)
		w.WriteString(line)
		if i%100 == 71 {
			w.WriteString(line) // a duplicate
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name(), metadata
}

// consumerProc is one consumer process that can be killed and started again with the same flags.
type consumerProc struct {
	t    testing.TB
	name string
	args []string
	env  []string // added to the environment
	http string
	log  string
	cmd  *exec.Cmd
}

func newConsumer(t testing.TB, name string, k *testenv.Kafka, redisURL, prefix, group string) *consumerProc {
	t.Helper()
	c := &consumerProc{t: t, name: name, http: testenv.FreeAddr(t), log: filepath.Join(t.TempDir(), name+".log")}
	c.args = []string{"--brokers", k.Addr, "--redis-prefix", prefix, "--group", group,
		"--http", c.http, "--checkpoint-interval", "200ms", "--log-level", "info"}
	if redisURL != "" {
		c.args = append(c.args, "--redis", redisURL)
	}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			b, _ := os.ReadFile(c.log)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s log tail:\n%s", name, b)
		}
	})
	return c
}

func (c *consumerProc) start() {
	c.t.Helper()
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logf.Close()
	c.cmd = exec.Command(testenv.Binary(c.t, "./cmd/consumer"), c.args...)
	c.cmd.Env = append(os.Environ(), c.env...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
}

// kill sends SIGKILL to the process, by PID, and reaps it.
func (c *consumerProc) kill() {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
	c.cmd = nil
}

func (c *consumerProc) get(path string) (int, map[string]any) {
	c.t.Helper()
	resp, err := http.Get("http://" + c.http + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, m
}

// waitDone waits until the consumer is ready and every partition's checkpoint in Redis is at the
// topic's end offset.
// waitProgress waits until the sum of prefix's checkpointed offsets over the interactions
// partitions exceeds since, and returns it. Tests call it from goroutines, so it returns its failure.
func waitProgress(rdb *redis.Client, prefix string, since int64, timeout time.Duration) (int64, error) {
	ctx := context.Background()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		keys, err := rdb.Keys(ctx, prefix+"{interactions/*}:ck").Result()
		if err != nil {
			continue // Redis may be down for the outage
		}
		var sum int64
		for _, key := range keys {
			v, _ := rdb.HGet(ctx, key, "offset").Int64()
			sum += v
		}
		if sum > since {
			return sum, nil
		}
	}
	return since, fmt.Errorf("%s checkpointed nothing past offset sum %d within %v", prefix, since, timeout)
}

func waitDone(t testing.TB, c *consumerProc, k *testenv.Kafka, rdb *redis.Client, prefix string, timeout time.Duration) {
	t.Helper()
	adm := kadm.NewClient(k.Client(t))
	deadline := time.Now().Add(timeout)
	var why any
	for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, m := c.get("/readyz"); code != http.StatusOK {
			why = m
			continue
		}
		ends, err := adm.ListEndOffsets(context.Background(), "interactions")
		if err != nil {
			why = err
			continue
		}
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			key := fmt.Sprintf("%s{interactions/%d}:ck", prefix, o.Partition)
			v, err := rdb.HGet(context.Background(), key, "offset").Int64()
			if err != nil || v != o.Offset {
				why = fmt.Sprintf("%s offset %d (%v), end %d", key, v, err, o.Offset)
				done = false
			}
		})
		if done {
			return
		}
	}
	t.Fatalf("%s did not finish within %v: %v", c.name, timeout, why)
}

// produce replays files with the producer; args name them (--users, --interactions) and more.
func produce(t testing.TB, k *testenv.Kafka, args ...string) {
	t.Helper()
	args = append([]string{"--brokers", k.Addr, "--partitions", "4"}, args...)
	out, err := exec.Command(testenv.Binary(t, "./cmd/producer"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("producer: %v\n%s", err, out)
	}
}

func redisClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

var segments = []string{"", "&country=US", "&country=unknown", "&device_type=iPad", "&subscription_type=premium"}

// answers asks the consumer every question of the API for the given dates and months.
func answers(t *testing.T, c *consumerProc, dates, months []string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	ask := func(path string) {
		code, m := c.get(path)
		if code != http.StatusOK {
			t.Fatalf("%s: GET %s = %d %v", c.name, path, code, m)
		}
		out[path] = m
	}
	for _, seg := range segments {
		for _, d := range dates {
			for _, ep := range []string{"dau", "wau", "mau", "sessions"} {
				ask("/v1/" + ep + "?date=" + d + seg)
			}
		}
		for _, m := range months {
			ask("/v1/mau?month=" + m + seg)
		}
	}
	return out
}

func addDays(date string, n int) string {
	d, _ := time.Parse(time.DateOnly, date)
	return d.AddDate(0, 0, n).Format(time.DateOnly)
}

func dates(from string, n int) []string {
	d, _ := time.Parse(time.DateOnly, from)
	var out []string
	for i := range n {
		out = append(out, d.AddDate(0, 0, i).Format(time.DateOnly))
	}
	return out
}

func TestAPIMatchesReference(t *testing.T) {
	k := testenv.StartKafka(t)
	// With AUTH: the password comes in the URL, from the environment, and never shows in the log.
	r := testenv.StartRedis(t)
	if err := redisClient(t, r.URL).ConfigSet(context.Background(), "requirepass", "s3cret-pw").Err(); err != nil {
		t.Fatal(err)
	}
	url := "redis://:s3cret-pw@" + r.Addr
	interactions, users := dataset(t, 3000, 150_000, 4, 1)
	produce(t, k, "--users", users, "--interactions", interactions)
	c := newConsumer(t, "consumer", k, "", "ns:", "g")
	c.env = []string{"NOTESTREAM_REDIS=" + url}
	c.start()
	waitDone(t, c, k, redisClient(t, url), "ns:", time.Minute)
	defer func() {
		if log, _ := os.ReadFile(c.log); strings.Contains(string(log), "s3cret") {
			t.Errorf("the Redis password is in the log:\n%s", log)
		}
	}()

	want, err := reference.ComputeFiles(interactions, users, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	near := func(path string, got any, want int) {
		t.Helper()
		g := got.(float64)
		if math.Abs(g-float64(want)) > 0.02*float64(want) {
			t.Errorf("%s = %v, want %d within 2%%", path, g, want)
		}
	}
	for _, seg := range []reference.Segment{{},
		{Dimension: "country", Value: "US"}, {Dimension: "country", Value: "unknown"},
		{Dimension: "device_type", Value: "Web"}, {Dimension: "subscription_type", Value: "team"}} {
		q := ""
		if seg != (reference.Segment{}) {
			q = "&" + seg.Dimension + "=" + seg.Value
		}
		for _, d := range dates("2023-07-01", 5) {
			_, dau := c.get("/v1/dau?date=" + d + q)
			near("dau "+d+q, dau["dau"], want.Active(d, d, seg))
			_, wau := c.get("/v1/wau?date=" + d + q)
			near("wau "+d+q, wau["wau"], want.Active(addDays(d, -6), d, seg))
			_, mau := c.get("/v1/mau?date=" + d + q)
			near("mau "+d+q, mau["mau"], want.Active(addDays(d, -29), d, seg))

			_, s := c.get("/v1/sessions?date=" + d + q)
			var ws struct {
				n        int64
				dur, act float64
			}
			if day := want.Days[d]; day != nil {
				agg := day.Sessions
				if seg != (reference.Segment{}) {
					agg = reference.SegmentDay{}.Sessions
					if sd := day.Segments[seg]; sd != nil {
						agg = sd.Sessions
					}
				}
				ws.n, ws.dur, ws.act = agg.Count, agg.AvgDurationS(), agg.AvgActions()
			}
			if s["sessions"].(float64) != float64(ws.n) || s["avg_session_duration_s"].(float64) != ws.dur ||
				s["avg_actions_per_session"].(float64) != ws.act {
				t.Errorf("sessions %s%s = %v, want %d %v %v", d, q, s, ws.n, ws.dur, ws.act)
			}
		}
		_, m := c.get("/v1/mau?month=2023-07" + q)
		near("mau 2023-07"+q, m["mau"], want.Active("2023-07-01", "2023-07-31", seg))
	}

	for path, want := range map[string]int{
		"/v1/dau":                               400,
		"/v1/dau?date=2023-13-01":               400,
		"/v1/dau?date=2023-07-01&month=2023-07": 400,
		"/v1/dau?month=2023-07":                 400,
		"/v1/mau?month=2023-7":                  400,
		"/v1/sessions?date=2023-07-01&country=US&device_type=iPad": 400,
		"/v1/sessions?date=2023-07-01&colour=red":                  400,
		"/healthz": 200,
		"/metrics": 200,
	} {
		resp, err := http.Get("http://" + c.http + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestExactlyOnce replays a million events once, read by four independent deployments at the same
// time (each its own group and key prefix): undisturbed; killed with SIGKILL five times; three members
// with one killed; and one whose Redis stops for 10 s. All must answer every question alike.
func TestExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("a million events")
	}
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	// Durable, as in production: a restart keeps the checkpoints.
	r2 := testenv.StartRedis(t, "appendonly yes", "appendfsync always")
	rdb, rdb2 := redisClient(t, r.URL), redisClient(t, r2.URL)
	interactions, users := dataset(t, 50_000, 1_000_000, 3, 2)

	calm := newConsumer(t, "calm", k, r.URL, "calm:", "calm")
	killed := newConsumer(t, "killed", k, r.URL, "killed:", "killed")
	group := []*consumerProc{
		newConsumer(t, "member0", k, r.URL, "group:", "group"),
		newConsumer(t, "member1", k, r.URL, "group:", "group"),
		newConsumer(t, "member2", k, r.URL, "group:", "group"),
	}
	outage := newConsumer(t, "outage", k, r2.URL, "outage:", "outage")
	// A static member: each restart takes its partitions back at once.
	killed.args = append(killed.args, "--instance-id", "killed-0")
	// Users first, so every deployment joins them to the events alike.
	produce(t, k, "--users", users)
	for _, c := range append([]*consumerProc{calm, killed, outage}, group...) {
		c.start()
	}

	// Three days of event time in about 30 s.
	produced := make(chan struct{})
	go func() { defer close(produced); produce(t, k, "--interactions", interactions, "--speed", "10000") }()
	// Each disruption comes once its deployment has checkpointed since the last one, and must come
	// while the replay still runs: one after it would test nothing.
	midReplay := func(what string, rdb *redis.Client, prefix string, since int64) int64 {
		t.Helper()
		at, err := waitProgress(rdb, prefix, since, time.Minute)
		if err != nil {
			t.Errorf("before %s: %v", what, err)
		}
		select {
		case <-produced:
			t.Errorf("%s came after the replay had ended", what)
		default:
		}
		return at
	}
	disrupted := make(chan struct{})
	go func() {
		defer close(disrupted)
		midReplay("the kill of a group member", rdb, "group:", 0)
		group[1].kill()
	}()
	go func() {
		midReplay("the Redis outage", rdb2, "outage:", 0)
		r2.Stop()
		time.Sleep(10 * time.Second) // an outage of a set length, not a guess at timing
		r2.Start()
	}()
	rng := rand.New(rand.NewPCG(3, 4))
	var at int64
	for i := range 5 {
		at = midReplay(fmt.Sprintf("kill %d", i+1), rdb, "killed:", at)
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		killed.kill()
		killed.start()
	}
	<-disrupted
	<-produced

	waitDone(t, calm, k, rdb, "calm:", 2*time.Minute)
	waitDone(t, killed, k, rdb, "killed:", time.Minute)
	waitDone(t, group[0], k, rdb, "group:", time.Minute)
	waitDone(t, outage, k, rdb2, "outage:", time.Minute)
	// Each group's offsets in Kafka follow its checkpoints: Kafka's tool sees them at lag 0.
	groupsAtEnd(t, k, time.Minute, "calm", "killed", "group", "outage")

	ds, months := dates("2023-07-01", 4), []string{"2023-07"}
	want := answers(t, calm, ds, months)
	if want["/v1/sessions?date=2023-07-01"]["sessions"].(float64) == 0 {
		t.Fatal("no sessions")
	}
	for _, c := range []*consumerProc{killed, group[0], group[2], outage} {
		got := answers(t, c, ds, months)
		for path, w := range want {
			if g := got[path]; fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("%s: %s = %v, want %v", c.name, path, g, w)
			}
		}
	}
	lateCount(t, calm)

	// The counters the API does not show (valid, late and rule-invalid events) match too.
	counts := func(rdb *redis.Client, prefix string) map[string]rtstate.Counts {
		st, err := rtstore.New(rdb, rtstore.Config{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]rtstate.Counts{}
		for _, d := range ds {
			day, _ := event.ParseDate(d)
			for _, seg := range []rtstate.Segment{{}, {Dimension: "country", Value: "US"}} {
				c, err := st.Day(context.Background(), day, seg)
				if err != nil {
					t.Fatal(err)
				}
				out[d+" "+seg.String()] = c
			}
		}
		return out
	}
	wantCounts := counts(rdb, "calm:")
	if wantCounts["2023-07-01 all"].Duplicate == 0 || wantCounts["2023-07-01 all"].UnknownAction == 0 {
		t.Errorf("no rule-invalid events counted: %+v", wantCounts["2023-07-01 all"])
	}
	for name, got := range map[string]map[string]rtstate.Counts{
		"killed": counts(rdb, "killed:"), "group": counts(rdb, "group:"), "outage": counts(rdb2, "outage:"),
	} {
		for k, w := range wantCounts {
			if got[k] != w {
				t.Errorf("%s: counters of %s = %+v, want %+v", name, k, got[k], w)
			}
		}
	}
}

// lateCount checks that no event was late in a replay in time order.
func lateCount(t *testing.T, c *consumerProc) {
	t.Helper()
	resp, err := http.Get("http://" + c.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `notestream_consumer_records_total{kind="late"} `); ok {
			if n, _ := strconv.ParseFloat(v, 64); n != 0 {
				t.Errorf("%v late events in a replay in time order", n)
			}
		}
	}
}

// TestLateEvents appends events of new users a day older than the rest: each is late, counted as
// such, copied to interactions.late, counted as active, and left out of the session metrics.
func TestLateEvents(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	interactions, users := dataset(t, 200, 5000, 2, 7)
	want, err := reference.ComputeFiles(interactions, users, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	const late = 50
	f, err := os.OpenFile(interactions, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range late {
		fmt.Fprintf(f, "late%d,2023-07-01 10:%02d:00,edit,p1,1000,5.7.3\n", i, i)
	}
	f.Close()

	// In file order, so the appended rows arrive after the day they belong to has closed.
	produce(t, k, "--users", users, "--interactions", interactions, "--order", "file")
	c := newConsumer(t, "consumer", k, r.URL, "ns:", "g")
	c.start()
	rdb := redisClient(t, r.URL)
	waitDone(t, c, k, rdb, "ns:", time.Minute)
	groupsAtEnd(t, k, 30*time.Second, "g")

	_, dau := c.get("/v1/dau?date=2023-07-01")
	if got, exact := dau["dau"].(float64), want.Active("2023-07-01", "2023-07-01", reference.Segment{})+late; math.Abs(got-float64(exact)) > 1 {
		t.Errorf("dau = %v, want %d with the late users", got, exact)
	}
	_, s := c.get("/v1/sessions?date=2023-07-01")
	if got := s["sessions"].(float64); got != float64(want.Days["2023-07-01"].Sessions.Count) {
		t.Errorf("sessions = %v, want %d without the late events", got, want.Days["2023-07-01"].Sessions.Count)
	}
	st, _ := rtstore.New(rdb, rtstore.Config{})
	day, _ := event.ParseDate("2023-07-01")
	counts, err := st.Day(context.Background(), day, rtstate.Segment{Dimension: "country", Value: "unknown"})
	if err != nil || counts.Late != late {
		t.Errorf("late count of country=unknown = %d, %v; want %d", counts.Late, err, late)
	}
	copies := testenv.Kcat(t, nil, "-C", "-b", k.Addr, "-t", "interactions.late", "-e", "-q", "-f", "%k\n")
	if n := strings.Count(string(copies), "\n"); n < late {
		t.Errorf("%d records on interactions.late, want at least %d", n, late)
	}
	lines := strings.Fields(string(copies))
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "late") {
		t.Errorf("interactions.late holds %q", lines)
	}
}
