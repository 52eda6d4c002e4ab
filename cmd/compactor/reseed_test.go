package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/consumer/api"
	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/report"
	rs "github.com/notestream/notestream/internal/reseed"
	"github.com/notestream/notestream/internal/rtstore"
	"github.com/notestream/notestream/internal/testenv"
)

// TestReseed replays a generated dataset through producer, consumer (into one Redis) and
// `compactor run`, then reseeds an empty Redis from the lake with `compactor reseed` and requires the
// API over it to answer every day's DAU/WAU/MAU, every segment's DAU and every calendar month's MAU
// exactly as the consumer that read the whole stream does, and the session metrics too on days
// without late events (the lake counts late events in sessions, the stream does not: on those days
// the reseeded answer must be gold's). The same reseed into a Redis Cluster must answer all of it alike.
func TestReseed(t *testing.T) {
	k := testenv.StartKafka(t)
	streamRedis := testenv.StartRedis(t)
	data := t.TempDir()
	runBin(t, testenv.Binary(t, "./cmd/datagen"), "--users", "300", "--days", "60", "--start", "2023-01-01",
		"--seed", "7", "--quiet", "--out", data)
	addr := testenv.FreeAddr(t)
	streamAPI := "http://" + addr
	startBin(t, testenv.Binary(t, "./cmd/consumer"), "--brokers", k.Addr, "--redis", streamRedis.URL, "--http", addr, "--tz", "UTC")
	waitStatus(t, streamAPI+"/healthz", 30*time.Second)
	runBin(t, testenv.Binary(t, "./cmd/producer"), "--brokers", k.Addr,
		"--users", filepath.Join(data, "user_metadata.csv"), "--interactions", filepath.Join(data, "user_interactions.csv"))
	testenv.WaitCaughtUp(t, k, streamRedis, streamAPI, 2*time.Minute)

	lakeDir := t.TempDir()
	if out, err := compact(t, nil, lakeDir, "--brokers", k.Addr); err != nil {
		t.Fatalf("compactor run: %v\n%s", err, out)
	}
	lakeRedis := testenv.StartRedis(t)
	out, err := reseed(t, "--lake", "file://"+lakeDir, "--redis", lakeRedis.URL)
	if err != nil {
		t.Fatalf("compactor reseed: %v\n%s", err, out)
	}
	lakeAPI := serveAPI(t, lakeRedis.Client(t))
	// The same reseed into a Redis Cluster must answer every question below as the one server does.
	cluster := testenv.StartRedisCluster(t)
	if out, err := reseed(t, "--lake", "file://"+lakeDir, "--redis", cluster.URL); err != nil {
		t.Fatalf("compactor reseed into a Redis Cluster: %v\n%s", err, out)
	}
	clusterAPI := serveAPI(t, cluster.Client(t))
	sameOnCluster := func(path, got string) {
		t.Helper()
		if c := answer(t, clusterAPI+path); c != got {
			t.Errorf("GET %s: reseeded into a Redis Cluster %.300s, into one server %.300s", path, c, got)
		}
	}

	lk, err := lake.NewDir(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	gold, err := report.Load(t.Context(), lk)
	if err != nil {
		t.Fatal(err)
	}
	first, last := gold.Days[0].Date, gold.Days[len(gold.Days)-1].Date
	if want := fmt.Sprintf("wrote %d days of the lake, %s to %s", len(gold.Days), first, last); !strings.Contains(out, want) {
		t.Errorf("compactor reseed reports:\n%s\nwant %q", out, want)
	}
	late := map[string]bool{}
	for _, q := range gold.Quality {
		late[q.Date] = q.Late > 0
	}
	// same requires the same answer from both APIs; sessions on a day with late events must be gold's.
	var compared, lateDays int
	same := func(path string, goldSessions *[3]float64) {
		t.Helper()
		got, want := answer(t, lakeAPI+path), answer(t, streamAPI+path)
		sameOnCluster(path, got)
		compared++
		if goldSessions == nil || !late[path[strings.Index(path, "date=")+5:][:10]] {
			if got != want {
				t.Errorf("GET %s: reseeded %s, stream %s", path, got, want)
			}
			return
		}
		var a struct {
			Sessions int64   `json:"sessions"`
			Avg      float64 `json:"avg_session_duration_s"`
			Actions  float64 `json:"avg_actions_per_session"`
		}
		if err := json.Unmarshal([]byte(got), &a); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if g := *goldSessions; [3]float64{float64(a.Sessions), a.Avg, a.Actions} != g {
			t.Errorf("GET %s on a day with late events: reseeded %s, gold %v", path, got, g)
		}
	}
	for _, d := range gold.Days {
		for _, m := range []string{"dau", "wau", "mau"} {
			same("/v1/"+m+"?date="+d.Date, nil)
		}
		if late[d.Date] {
			lateDays++
		}
		same("/v1/sessions?date="+d.Date, &[3]float64{float64(d.Sessions), d.AvgSessionDurationS, d.AvgActionsPerSession})
	}
	for _, s := range gold.Segments {
		q := "date=" + s.Date + "&" + url.QueryEscape(s.Dimension) + "=" + url.QueryEscape(s.Value)
		same("/v1/dau?"+q, nil)
		same("/v1/sessions?"+q, &[3]float64{float64(s.Sessions), s.AvgSessionDurationS, s.AvgActionsPerSession})
	}
	for _, m := range gold.Months {
		same("/v1/mau?month="+m.Month, nil)
	}
	// Power users (SPEC section 8), late events included in both: every month's whole ranking equals
	// the stream's, and its top 1% is gold/power_users.
	power := map[string][]report.PowerUserRow{}
	for _, r := range gold.PowerUsers {
		power[r.Month] = append(power[r.Month], r)
	}
	for _, m := range gold.Months {
		path := "/v1/power-users?top_pct=100&limit=100000&month=" + m.Month
		got, want := answer(t, lakeAPI+path), answer(t, streamAPI+path)
		if got != want {
			t.Errorf("GET %s: reseeded %.300s, stream %.300s", path, got, want)
		}
		sameOnCluster(path, got)
		var ranked struct {
			ActiveUsers int64 `json:"active_users"`
			Users       []struct {
				Rank      int64  `json:"rank"`
				UserID    string `json:"user_id"`
				EngagedMs int64  `json:"engaged_ms"`
				Events    int64  `json:"events"`
			} `json:"users"`
		}
		path = "/v1/power-users?limit=100000&month=" + m.Month
		if err := json.Unmarshal([]byte(answer(t, lakeAPI+path)), &ranked); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		rows := power[m.Month]
		if ranked.ActiveUsers != m.MAU || len(ranked.Users) != len(rows) || len(rows) == 0 {
			t.Errorf("GET %s: %d active, %d listed; gold %d active, %d power users", path, ranked.ActiveUsers, len(ranked.Users), m.MAU, len(rows))
			continue
		}
		for i, r := range rows {
			if u := ranked.Users[i]; u.Rank != r.Rank || u.UserID != r.UserID || u.EngagedMs != r.EngagedMs || u.Events != r.Events {
				t.Errorf("GET %s rank %d: reseeded %+v, gold %+v", path, i+1, u, r.PowerUser)
			}
		}
	}
	if want := fmt.Sprintf("and %d months of power-user state", len(gold.Months)); !strings.Contains(out, want) {
		t.Errorf("compactor reseed reports:\n%s\nwant %q", out, want)
	}
	if len(gold.Days) < 60 || lateDays > len(gold.Days)/10 {
		t.Errorf("%d gold days, %d with late events: too few to compare", len(gold.Days), lateDays)
	}
	t.Logf("compared %d answers over %d days (%d with late events) and %d months", compared, len(gold.Days), lateDays, len(gold.Months))

	t.Run("twice", func(t *testing.T) {
		before := dump(t, lakeRedis)
		if out, err := reseed(t, "--lake", "file://"+lakeDir, "--redis", lakeRedis.URL); err != nil {
			t.Fatalf("compactor reseed: %v\n%s", err, out)
		}
		after := dump(t, lakeRedis)
		if len(before) < 60 || !slices.Equal(before, after) {
			t.Errorf("a second run changed Redis: %d keys before, %d after", len(before), len(after))
		}
	})

	t.Run("consumers hold the days", func(t *testing.T) {
		out, err := reseed(t, "--lake", "file://"+lakeDir, "--redis", streamRedis.URL, "--through", last)
		wantFailure(t, out, err)
		if !strings.Contains(out, "consumers hold days in the range") || !strings.Contains(out, first+" to "+last) || !strings.Contains(out, "--force") {
			t.Errorf("want the days named and --force offered, got:\n%s", out)
		}
		// Without --through it writes the days before the consumers' first: none here.
		out, err = reseed(t, "--lake", "file://"+lakeDir, "--redis", streamRedis.URL)
		if err != nil || !strings.Contains(out, "no day of the lake to write") || !strings.Contains(out, "consumers hold the lake's days from "+first) {
			t.Errorf("compactor reseed without --through: %v\n%s", err, out)
		}
		for _, line := range dump(t, streamRedis) {
			if strings.Contains(line, fmt.Sprintf("/%d}", rs.Partition)) {
				t.Errorf("reseed wrote into the consumers' Redis: %.80s", line)
			}
		}
	})

	t.Run("missing table", func(t *testing.T) {
		if err := os.Rename(filepath.Join(lakeDir, "gold", "daily_sketches"), filepath.Join(lakeDir, "gold", "moved")); err != nil {
			t.Fatal(err)
		}
		empty := testenv.StartRedis(t)
		out, err := reseed(t, "--lake", "file://"+lakeDir, "--redis", empty.URL)
		wantFailure(t, out, err)
		if !strings.Contains(out, "the lake has no gold/daily_sketches table") {
			t.Errorf("want the missing table named, got:\n%s", out)
		}
		if keys := dump(t, empty); len(keys) > 0 {
			t.Errorf("a failed run wrote %d keys", len(keys))
		}
	})
}

// reseed runs `compactor reseed` with args.
func reseed(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testenv.Binary(t, "./cmd/compactor"), append([]string{"reseed"}, args...)...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("compactor reseed still running after 2m:\n%s", out)
	}
	return string(out), err
}

// serveAPI serves the consumer's API over the store in r.
func serveAPI(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	st, err := rtstore.New(rdb, rtstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(st, func() error { return nil }, http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return srv.URL
}

// answer is the body of a 200 answer.
func answer(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", u, resp.Status, err, b)
	}
	return string(bytes.TrimSpace(b))
}

// dump lists every key of Redis with its value, sorted.
func dump(t *testing.T, r *testenv.Redis) []string {
	t.Helper()
	ctx := t.Context()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		var v any
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			v = rdb.Get(ctx, k).Val()
		case "hash":
			v = rdb.HGetAll(ctx, k).Val() // fmt prints maps sorted
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			slices.Sort(m)
			v = m
		default:
			t.Fatalf("%s: unexpected type %s", k, typ)
		}
		out = append(out, fmt.Sprintf("%s %q", k, v))
	}
	slices.Sort(out)
	return out
}

// runBin runs a binary to completion, failing the test with its output on error.
func runBin(t *testing.T, bin string, args ...string) {
	t.Helper()
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

// startBin starts a long-running binary; cleanup stops it by PID (SIGTERM, then SIGKILL) and logs
// its output if the test failed.
func startBin(t *testing.T, bin string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.Bytes())
		}
	})
}

// waitStatus waits until u answers 200.
func waitStatus(t *testing.T, u string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not 200 after %v", u, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
