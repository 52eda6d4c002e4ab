package rtstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/notestream/notestream/internal/testenv"
)

func newStore(t testing.TB) (*Store, *redis.Client) {
	t.Helper()
	srv := testenv.StartRedis(t)
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	s, err := New(rdb, Config{Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	return s, rdb
}

func sketchOf(users ...string) []byte {
	var s hll.Sketch
	for _, u := range users {
		s.AddString(u)
	}
	return s.AppendRedis(nil)
}

func TestCommitFencesAndRetries(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	day, _ := event.ParseDate("2023-07-01")

	cp, err := s.Load(ctx, 3)
	if err != nil || cp.Offset != -1 || cp.Snapshot != nil {
		t.Fatalf("Load of a new partition = %+v, %v", cp, err)
	}
	us := rtstate.Segment{Dimension: "country", Value: "US"}
	c := &rtstate.Commit{Partition: 3, Expect: -1, Offset: 10, Owner: "a", Snapshot: []byte("snap1"), Cells: []rtstate.Cell{
		{Day: day, Users: sketchOf("u1", "u2"), Counts: rtstate.Counts{Sessions: metric.Sessions{Count: 2, DurationMs: 3000, Actions: 5}, Valid: 6, Late: 1}},
		{Day: day, Segment: us, Users: sketchOf("u1"), Counts: rtstate.Counts{Sessions: metric.Sessions{Count: 1, DurationMs: 1000, Actions: 2}, Duplicate: 4}},
	}}
	if err := s.Commit(ctx, c); err != nil {
		t.Fatal(err)
	}
	// A retry after a lost reply is accepted and applied once.
	if err := s.Commit(ctx, c); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// A zombie that still expects no checkpoint, or another owner, is fenced.
	zombie := *c
	zombie.Owner = "b"
	if err := s.Commit(ctx, &zombie); !errors.Is(err, rtstate.ErrFenced) {
		t.Fatalf("zombie commit: %v, want ErrFenced", err)
	}
	next := &rtstate.Commit{Partition: 3, Expect: 10, Offset: 20, Owner: "a", Snapshot: []byte("snap2"), Cells: []rtstate.Cell{
		{Day: day, Users: sketchOf("u3"), Counts: rtstate.Counts{Sessions: metric.Sessions{Count: 1, DurationMs: 500, Actions: 1}}},
	}}
	if err := s.Commit(ctx, next); err != nil {
		t.Fatal(err)
	}
	stale := *next
	stale.Expect, stale.Offset, stale.Owner = 10, 15, "b"
	if err := s.Commit(ctx, &stale); !errors.Is(err, rtstate.ErrFenced) {
		t.Fatalf("stale commit: %v, want ErrFenced", err)
	}

	cp, err = s.Load(ctx, 3)
	if err != nil || cp.Offset != 20 || cp.Owner != "a" || string(cp.Snapshot) != "snap2" {
		t.Fatalf("Load = %+v, %v", cp, err)
	}
	got, err := s.Day(ctx, day, rtstate.Segment{})
	want := rtstate.Counts{Sessions: metric.Sessions{Count: 3, DurationMs: 3500, Actions: 6}, Valid: 6, Late: 1}
	if err != nil || got != want {
		t.Fatalf("Day(all) = %+v, %v; want %+v", got, err, want)
	}
	got, err = s.Day(ctx, day, us)
	want = rtstate.Counts{Sessions: metric.Sessions{Count: 1, DurationMs: 1000, Actions: 2}, Duplicate: 4}
	if err != nil || got != want {
		t.Fatalf("Day(US) = %+v, %v; want %+v", got, err, want)
	}
	if n, err := s.Active(ctx, day, day, rtstate.Segment{}); err != nil || n != 3 {
		t.Fatalf("Active(all) = %d, %v; want 3", n, err)
	}
	if n, err := s.Active(ctx, day, day, us); err != nil || n != 1 {
		t.Fatalf("Active(US) = %d, %v; want 1", n, err)
	}
	if n, err := s.Active(ctx, day+1, day+1, rtstate.Segment{}); err != nil || n != 0 {
		t.Fatalf("Active(empty day) = %d, %v; want 0", n, err)
	}
}

func TestActiveMergesPartitionsAndDays(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	day, _ := event.ParseDate("2023-07-01")
	// Users 0..999 on partition 0 day d, 500..1499 on partition 1 day d+1.
	var a, b []string
	for i := range 1000 {
		a = append(a, fmt.Sprintf("user:%d", i))
		b = append(b, fmt.Sprintf("user:%d", i+500))
	}
	for p, users := range [][]string{a, b} {
		if _, err := s.Load(ctx, int32(p)); err != nil {
			t.Fatal(err)
		}
		c := &rtstate.Commit{Partition: int32(p), Expect: -1, Offset: 1, Owner: "o",
			Cells: []rtstate.Cell{{Day: day + int32(p), Users: sketchOf(users...)}}}
		if err := s.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// The merged estimate equals Redis's own PFCOUNT over the same keys.
	want, err := rdb.PFCount(ctx, s.usersKey(0, day, rtstate.Segment{}), s.usersKey(1, day+1, rtstate.Segment{})).Result()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Active(ctx, day, day+1, rtstate.Segment{})
	if err != nil || got != uint64(want) {
		t.Fatalf("Active = %d, %v; PFCOUNT says %d", got, err, want)
	}
	ttl, err := rdb.TTL(ctx, s.usersKey(0, day, rtstate.Segment{})).Result()
	if err != nil || ttl <= 0 {
		t.Fatalf("TTL = %v, %v; want an expiry", ttl, err)
	}
	if ttl > 400*24*time.Hour {
		t.Fatalf("TTL %v is past the retention", ttl)
	}
}

// TestCommitBehind plays Redis losing acknowledged checkpoints, as a failover to a replica they had
// not reached does: the owner's next checkpoint finds an older one of its own, or none, and gets
// ErrCheckpointBehind, while another owner's finds a takeover's ErrFenced. Neither applies anything.
func TestCommitBehind(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	day, _ := event.ParseDate("2023-07-01")
	commit := func(expect, offset int64, owner string) error {
		return s.Commit(ctx, &rtstate.Commit{Partition: 0, Expect: expect, Offset: offset, Owner: owner,
			Cells: []rtstate.Cell{{Day: day, Counts: rtstate.Counts{Valid: 1}}}})
	}
	if _, err := s.Load(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := commit(-1, 10, "a"); err != nil {
		t.Fatal(err)
	}
	if err := commit(10, 20, "a"); err != nil {
		t.Fatal(err)
	}
	// The checkpoint at 20 is lost: Redis holds a's checkpoint at 10 and its counters.
	ck := s.tag(0) + ":ck"
	if err := rdb.HSet(ctx, ck, "offset", 10).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HIncrBy(ctx, s.countsKey(0, day), "all|valid", -1).Err(); err != nil {
		t.Fatal(err)
	}
	f := func(expect, offset int64, owner string, want error) {
		t.Helper()
		if err := commit(expect, offset, owner); !errors.Is(err, want) {
			t.Errorf("commit %d→%d by %s: %v, want %v", expect, offset, owner, err, want)
		}
	}
	f(20, 30, "a", rtstate.ErrCheckpointBehind)
	f(20, 30, "b", rtstate.ErrFenced) // b never wrote 10: another owner's checkpoint, a takeover
	f(5, 30, "a", rtstate.ErrFenced)  // a's checkpoint ahead of the expected one is no loss
	if got, err := s.Day(ctx, day, rtstate.Segment{}); err != nil || got.Valid != 1 {
		t.Fatalf("after refused commits: %+v, %v; want the 1 valid event of the checkpoint held", got, err)
	}
	// The owner rewinds to the checkpoint held and goes on from there.
	if err := commit(10, 20, "a"); err != nil {
		t.Fatalf("commit after the rewind: %v", err)
	}
	// Every checkpoint lost: none is held where one was expected.
	if err := rdb.Del(ctx, ck).Err(); err != nil {
		t.Fatal(err)
	}
	f(20, 30, "a", rtstate.ErrCheckpointBehind)
	f(20, 30, "b", rtstate.ErrCheckpointBehind) // no owner at all: no takeover either
	f(-1, 30, "b", nil)
}
