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
	"github.com/notestream/notestream/internal/testenv"
)

func newStore(t *testing.T) (*Store, *redis.Client) {
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
	us := Segment{Dimension: "country", Value: "US"}
	c := &Commit{Partition: 3, Expect: -1, Offset: 10, Owner: "a", Snapshot: []byte("snap1"), Cells: []Cell{
		{Day: day, Users: sketchOf("u1", "u2"), Counts: Counts{Sessions: metric.Sessions{Count: 2, DurationMs: 3000, Actions: 5}, Valid: 6, Late: 1}},
		{Day: day, Segment: us, Users: sketchOf("u1"), Counts: Counts{Sessions: metric.Sessions{Count: 1, DurationMs: 1000, Actions: 2}, Duplicate: 4}},
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
	if err := s.Commit(ctx, &zombie); !errors.Is(err, ErrFenced) {
		t.Fatalf("zombie commit: %v, want ErrFenced", err)
	}
	next := &Commit{Partition: 3, Expect: 10, Offset: 20, Owner: "a", Snapshot: []byte("snap2"), Cells: []Cell{
		{Day: day, Users: sketchOf("u3"), Counts: Counts{Sessions: metric.Sessions{Count: 1, DurationMs: 500, Actions: 1}}},
	}}
	if err := s.Commit(ctx, next); err != nil {
		t.Fatal(err)
	}
	stale := *next
	stale.Expect, stale.Offset, stale.Owner = 10, 15, "b"
	if err := s.Commit(ctx, &stale); !errors.Is(err, ErrFenced) {
		t.Fatalf("stale commit: %v, want ErrFenced", err)
	}

	cp, err = s.Load(ctx, 3)
	if err != nil || cp.Offset != 20 || cp.Owner != "a" || string(cp.Snapshot) != "snap2" {
		t.Fatalf("Load = %+v, %v", cp, err)
	}
	got, err := s.Day(ctx, day, Segment{})
	want := Counts{Sessions: metric.Sessions{Count: 3, DurationMs: 3500, Actions: 6}, Valid: 6, Late: 1}
	if err != nil || got != want {
		t.Fatalf("Day(all) = %+v, %v; want %+v", got, err, want)
	}
	got, err = s.Day(ctx, day, us)
	want = Counts{Sessions: metric.Sessions{Count: 1, DurationMs: 1000, Actions: 2}, Duplicate: 4}
	if err != nil || got != want {
		t.Fatalf("Day(US) = %+v, %v; want %+v", got, err, want)
	}
	if n, err := s.Active(ctx, day, day, Segment{}); err != nil || n != 3 {
		t.Fatalf("Active(all) = %d, %v; want 3", n, err)
	}
	if n, err := s.Active(ctx, day, day, us); err != nil || n != 1 {
		t.Fatalf("Active(US) = %d, %v; want 1", n, err)
	}
	if n, err := s.Active(ctx, day+1, day+1, Segment{}); err != nil || n != 0 {
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
		c := &Commit{Partition: int32(p), Expect: -1, Offset: 1, Owner: "o",
			Cells: []Cell{{Day: day + int32(p), Users: sketchOf(users...)}}}
		if err := s.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// The merged estimate equals Redis's own PFCOUNT over the same keys.
	want, err := rdb.PFCount(ctx, s.usersKey(0, day, Segment{}), s.usersKey(1, day+1, Segment{})).Result()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Active(ctx, day, day+1, Segment{})
	if err != nil || got != uint64(want) {
		t.Fatalf("Active = %d, %v; PFCOUNT says %d", got, err, want)
	}
	ttl, err := rdb.TTL(ctx, s.usersKey(0, day, Segment{})).Result()
	if err != nil || ttl <= 0 {
		t.Fatalf("TTL = %v, %v; want an expiry", ttl, err)
	}
	if ttl > 400*24*time.Hour {
		t.Fatalf("TTL %v is past the retention", ttl)
	}
}
