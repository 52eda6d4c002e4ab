package rtstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/engagement"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/notestream/notestream/internal/testenv"
)

func TestEngagedExactlyOnce(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	for _, p := range []int32{0, 1} {
		if _, err := s.Load(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	c := &rtstate.Commit{Partition: 0, Expect: -1, Offset: 5, Owner: "a", Engaged: []rtstate.EngagedUser{
		{Month: "2023-07", UserID: "u1", EngagedMs: 1000, Events: 2},
		{Month: "2023-07", UserID: "u2", EngagedMs: 0, Events: 1}, // no engaged time, still active
		{Month: "2023-08", UserID: "u1", EngagedMs: 7, Events: 1},
	}}
	if err := s.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, c); err != nil { // a retry after a lost reply applies nothing twice
		t.Fatalf("retry: %v", err)
	}
	// Another owner's stale checkpoint is fenced and applies nothing.
	stale := &rtstate.Commit{Partition: 0, Expect: -1, Offset: 9, Owner: "b", Engaged: []rtstate.EngagedUser{{Month: "2023-07", UserID: "u1", EngagedMs: 50, Events: 1}}}
	if err := s.Commit(ctx, stale); !errors.Is(err, rtstate.ErrFenced) {
		t.Fatalf("stale commit: %v, want ErrFenced", err)
	}
	next := &rtstate.Commit{Partition: 0, Expect: 5, Offset: 8, Owner: "a", Engaged: []rtstate.EngagedUser{{Month: "2023-07", UserID: "u1", EngagedMs: 500, Events: 1}}}
	other := &rtstate.Commit{Partition: 1, Expect: -1, Offset: 3, Owner: "c", Engaged: []rtstate.EngagedUser{{Month: "2023-07", UserID: "u3", EngagedMs: 2, Events: 4}}}
	for _, c := range []*rtstate.Commit{next, other} {
		if err := s.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.MonthUsers(ctx, "2023-07")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b engagement.User) int { return strings.Compare(a.UserID, b.UserID) })
	want := []engagement.User{{UserID: "u1", EngagedMs: 1500, Events: 3}, {UserID: "u2", Events: 1}, {UserID: "u3", EngagedMs: 2, Events: 4}}
	if !slices.Equal(got, want) {
		t.Fatalf("2023-07: %+v, want %+v", got, want)
	}
	if got, _ := s.MonthUsers(ctx, "2023-08"); !slices.Equal(got, []engagement.User{{UserID: "u1", EngagedMs: 7, Events: 1}}) {
		t.Fatalf("2023-08: %+v", got)
	}
	if got, err := s.MonthUsers(ctx, "2023-09"); err != nil || len(got) != 0 {
		t.Fatalf("2023-09: %+v, %v", got, err)
	}
	if ttl := rdb.TTL(ctx, "t:{interactions/0}:pe:2023-07").Val(); ttl <= 0 {
		t.Fatalf("engaged hash TTL %v", ttl)
	}
	// Every MessagePack length form: 40 users (a 120-element array), ids of 1, 40, 300 and 70,000 bytes.
	long := &rtstate.Commit{Partition: 1, Expect: 3, Offset: 4, Owner: "c"}
	want = nil
	for i := range 40 {
		id := strings.Repeat("x", []int{1, 40, 300, 70_000}[i%4]) + strconv.Itoa(i)
		long.Engaged = append(long.Engaged, rtstate.EngagedUser{Month: "2024-01", UserID: id, EngagedMs: 1 << 40, Events: int64(i + 1)})
		want = append(want, engagement.User{UserID: id, EngagedMs: 1 << 40, Events: int64(i + 1)})
	}
	if err := s.Commit(ctx, long); err != nil {
		t.Fatal(err)
	}
	got, err = s.MonthUsers(ctx, "2024-01")
	slices.SortFunc(got, func(a, b engagement.User) int { return strings.Compare(a.UserID, b.UserID) })
	slices.SortFunc(want, func(a, b engagement.User) int { return strings.Compare(a.UserID, b.UserID) })
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("2024-01: %d users (%v), want %d", len(got), err, len(want))
	}
	// A corrupt value is an error, not a zero.
	rdb.HSet(ctx, "t:{interactions/1}:pn:2023-07", "u3", "x")
	if _, err := s.MonthUsers(ctx, "2023-07"); err == nil {
		t.Fatal("a corrupt counter must be an error")
	}
}

// BenchmarkEngagedState writes the power-user state of one month of 1M users (in checkpoints of
// 10,000 users, as a consumer does) and reports Redis's used_memory per user, then reads it back per
// iteration as GET /v1/power-users does (MonthUsers and the ranking).
//
//	go test ./internal/rtstore -run '^$' -bench EngagedState -benchtime 3x
func BenchmarkEngagedState(b *testing.B) {
	srv := testenv.StartRedis(b)
	opt, _ := redis.ParseURL(srv.URL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	s, err := New(rdb, Config{Prefix: "b:"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const users, batch = 1_000_000, 10_000
	before := usedMemory(b, rdb)
	if _, err := s.Load(ctx, 0); err != nil {
		b.Fatal(err)
	}
	expect := int64(-1)
	for from := 0; from < users; from += batch {
		c := &rtstate.Commit{Partition: 0, Expect: expect, Offset: int64(from + batch), Owner: "o"}
		for u := from; u < from+batch; u++ {
			c.Engaged = append(c.Engaged, rtstate.EngagedUser{Month: "2023-07", UserID: "user" + strconv.Itoa(u), EngagedMs: int64(u%7_200_000) * 3, Events: int64(u%40 + 1)})
		}
		if err := s.Commit(ctx, c); err != nil {
			b.Fatal(err)
		}
		expect = c.Offset
	}
	mem := usedMemory(b, rdb) - before
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.MonthUsers(ctx, "2023-07")
		if err != nil || len(got) != users {
			b.Fatalf("%d users, %v", len(got), err)
		}
		engagement.PowerUsers(got, engagement.DefaultPct)
	}
	b.ReportMetric(float64(mem)/users, "redis-bytes/user")
}

func usedMemory(b *testing.B, rdb *redis.Client) int64 {
	info := rdb.Info(context.Background(), "memory").Val()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}

func TestReplaceMonth(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	if _, err := s.Load(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, &rtstate.Commit{Partition: 0, Expect: -1, Offset: 1, Owner: "a", Engaged: []rtstate.EngagedUser{{Month: "2023-07", UserID: "u1", EngagedMs: 10, Events: 1}}}); err != nil {
		t.Fatal(err)
	}
	const p = 1_000_000
	if err := s.Register(ctx, p); err != nil {
		t.Fatal(err)
	}
	month := func() []engagement.User {
		t.Helper()
		got, err := s.MonthUsers(ctx, "2023-07")
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, func(a, b engagement.User) int { return strings.Compare(a.UserID, b.UserID) })
		return got
	}
	many := make([]engagement.User, 10_000) // more than one HSET's worth
	for i := range many {
		many[i] = engagement.User{UserID: "m" + strconv.Itoa(i), EngagedMs: int64(i), Events: 1}
	}
	if err := s.ReplaceMonth(ctx, p, "2023-07", many); err != nil {
		t.Fatal(err)
	}
	if got := month(); len(got) != 1+len(many) {
		t.Fatalf("%d users after writing %d next to a consumer's one", len(got), len(many))
	}
	// Set, not added: twice is once, and users not written again are gone.
	for range 2 {
		if err := s.ReplaceMonth(ctx, p, "2023-07", []engagement.User{{UserID: "u1", EngagedMs: 5, Events: 2}, {UserID: "u2", EngagedMs: 1, Events: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := month(), []engagement.User{{UserID: "u1", EngagedMs: 15, Events: 3}, {UserID: "u2", EngagedMs: 1, Events: 1}}; !slices.Equal(got, want) {
		t.Fatalf("after replacing: %+v, want %+v", got, want)
	}
	ke, kn := s.engagedKeys(p, "2023-07")
	for _, k := range []string{ke, kn} {
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("%s has no TTL (%v)", k, ttl)
		}
	}
	if err := s.ReplaceMonth(ctx, p, "2023-07", nil); err != nil {
		t.Fatal(err)
	}
	if got, want := month(), []engagement.User{{UserID: "u1", EngagedMs: 10, Events: 1}}; !slices.Equal(got, want) {
		t.Fatalf("after deleting: %+v, want the consumer's %+v", got, want)
	}
	if n := rdb.Exists(ctx, ke, kn).Val(); n != 0 {
		t.Errorf("%d of the month's keys left after deleting it", n)
	}
}
