package rtstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/quantile"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/notestream/notestream/internal/testenv"
)

// TestVersionsAddUpExactlyOnce: checkpoints of two partitions, in several steps each, with a retried
// and a fenced commit, add up in Redis to the sketch of every value (Lua's addition equals the
// sketch's own merge) and to exact counts.
func TestVersionsAddUpExactlyOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	day, _ := event.ParseDate("2023-07-01")
	rng := rand.New(rand.NewPCG(1, 1))
	want := map[string]*quantile.Sketch{}
	events := map[string]int64{}
	offsets := map[int32]int64{0: -1, 1: -1}
	for step := range 12 {
		p := int32(step % 2)
		c := &rtstate.Commit{Partition: p, Expect: offsets[p], Offset: int64(step + 1), Owner: "a"}
		for _, version := range []string{"5.7.3", "a|b,c", "6.0"} {
			if rng.IntN(3) == 0 {
				continue // not every version in every checkpoint
			}
			delta, _ := quantile.New(rtstate.VersionAlpha)
			if want[version] == nil {
				want[version], _ = quantile.New(rtstate.VersionAlpha)
			}
			n := rng.IntN(200)
			for range n {
				// Spread over five decades in some steps, narrow in others, zeros too: the buckets
				// held grow both ways as checkpoints add up.
				v := int64(rng.ExpFloat64() * float64([]int{10, 1000, 100_000}[rng.IntN(3)]))
				delta.Add(v)
				want[version].Add(v)
			}
			events[version] += int64(n) + 3
			c.Versions = append(c.Versions, rtstate.VersionCell{Day: day, Version: version, Events: int64(n) + 3, PageViews: int64(n), Sketch: delta.AppendText(nil)})
		}
		if _, err := s.Load(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, c); err != nil { // a retry after a lost reply counts once
			t.Fatalf("retry: %v", err)
		}
		stale := *c
		stale.Owner, stale.Offset = "b", c.Offset+100
		if err := s.Commit(ctx, &stale); !errors.Is(err, rtstate.ErrFenced) {
			t.Fatalf("stale commit: %v", err)
		}
		offsets[p] = c.Offset
	}
	got, err := s.AppVersions(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d versions, want %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if g == nil || g.Events != events[name] || g.PageViews != int64(w.Count()) {
			t.Fatalf("%s: %+v, want %d events, %d page views", name, g, events[name], w.Count())
		}
		if a, b := string(g.Sketch.AppendText(nil)), string(w.AppendText(nil)); a != b {
			t.Fatalf("%s: Redis holds %q\nwant %q", name, a, b)
		}
	}
	if other, err := s.AppVersions(ctx, day+1); err != nil || len(other) != 0 {
		t.Fatalf("another day: %v, %v", other, err)
	}
}

// BenchmarkVersionBytes measures Redis's memory per day and app version: 20 versions of a day, each
// with pageViews page-view durations drawn like datagen's (log-normal, median 12 s, σ 1), committed
// in one checkpoint; MEMORY USAGE of the day's hash over the versions.
func BenchmarkVersionBytes(b *testing.B) {
	for _, pageViews := range []int{100, 1000, 100_000} {
		b.Run(fmt.Sprint(pageViews), func(b *testing.B) {
			srv := testenv.StartRedis(b)
			opt, _ := redis.ParseURL(srv.URL)
			rdb := redis.NewClient(opt)
			defer rdb.Close()
			s, _ := New(rdb, Config{Prefix: "b:"})
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(2, 2))
			const versions = 20
			var bytes, fieldBytes int64
			for range b.N {
				rdb.FlushAll(ctx)
				c := &rtstate.Commit{Partition: 0, Expect: -1, Offset: 1, Owner: "a"}
				for v := range versions {
					sk, _ := quantile.New(rtstate.VersionAlpha)
					for range pageViews {
						sk.Add(int64(12_000 * math.Exp(rng.NormFloat64())))
					}
					c.Versions = append(c.Versions, rtstate.VersionCell{Day: 19500, Version: fmt.Sprintf("5.%d.0", v), Events: int64(2 * pageViews), PageViews: int64(pageViews), Sketch: sk.AppendText(nil)})
				}
				if err := s.Commit(ctx, c); err != nil {
					b.Fatal(err)
				}
				n, err := rdb.MemoryUsage(ctx, s.versionsKey(0, 19500)).Result()
				if err != nil {
					b.Fatal(err)
				}
				bytes = n
				fieldBytes = 0
				for _, v := range rdb.HGetAll(ctx, s.versionsKey(0, 19500)).Val() {
					fieldBytes += int64(len(v))
				}
			}
			b.ReportMetric(float64(bytes)/versions, "redis-bytes/version")
			b.ReportMetric(float64(fieldBytes)/versions, "value-bytes/version")
		})
	}
}
