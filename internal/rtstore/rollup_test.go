package rtstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/quantile"
	"github.com/notestream/notestream/internal/rtstate"
)

var errCrash = errors.New("test: crashed")

// crashHook lets a client make a set number of round trips that write, then fails every command
// without sending it, as if the process died there.
type crashHook struct {
	armed atomic.Bool
	left  atomic.Int64
}

func (h *crashHook) arm(writes int) { h.left.Store(int64(writes)); h.armed.Store(true) }
func (h *crashHook) disarm()        { h.armed.Store(false) }

func (h *crashHook) crashed(cmds ...redis.Cmder) bool {
	if !h.armed.Load() {
		return false
	}
	for _, c := range cmds {
		switch strings.ToLower(c.Name()) {
		case "get", "hget", "hmget", "hgetall", "hkeys", "hlen", "smembers", "sismember", "exists", "info", "wait", "ping":
		default:
			return h.left.Add(-1) < 0
		}
	}
	return h.left.Load() < 0
}

func (h *crashHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *crashHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.crashed(cmd) {
			cmd.SetErr(errCrash)
			return errCrash
		}
		return next(ctx, cmd)
	}
}

func (h *crashHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.crashed(cmds...) {
			for _, c := range cmds {
				c.SetErr(errCrash)
			}
			return errCrash
		}
		return next(ctx, cmds)
	}
}

var rollUpSegments = []rtstate.Segment{{}, {Dimension: "country", Value: "US"}, {Dimension: "country", Value: "FR"}}

// seedRollUp writes two checkpoints of partitions 0..parts-1 over days first..first+2 (the second
// closes the first two days, and brings a late event of the first), and returns the store.
func seedRollUp(t *testing.T, rdb *redis.Client, parts int32) *Store {
	t.Helper()
	s, err := New(rdb, Config{Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, _ := event.ParseDate("2023-07-01")
	// Users 0..n-1 are active; a user's events stay in one partition, as with Kafka's keys.
	cells := func(p int32, day int32, n int, late bool) []rtstate.Cell {
		var out []rtstate.Cell
		for i, seg := range rollUpSegments {
			var users []string
			for id := int(p); id < n; id += int(parts) {
				if seg == (rtstate.Segment{}) || id%2 == i-1 {
					users = append(users, fmt.Sprintf("u%d-%d", id, day-first))
				}
			}
			c := rtstate.Cell{Day: day, Segment: seg, Users: sketchOf(users...), Counts: rtstate.Counts{Valid: int64(len(users)), Duplicate: 1}}
			if late {
				c.Counts.Late = c.Counts.Valid
			} else {
				c.Counts.Sessions = metric.Sessions{Count: int64(len(users)), DurationMs: 1000 * int64(len(users)), Actions: 3 * int64(len(users))}
			}
			out = append(out, c)
		}
		return out
	}
	// Page views 0..n-1 of the app version, each in its user's partition.
	versions := func(p, day int32, n int) []rtstate.VersionCell {
		sk, _ := quantile.New(rtstate.VersionAlpha)
		views := 0
		for id := int(p); id < n; id += int(parts) {
			sk.Add(100 * int64(id%7+1))
			views++
		}
		return []rtstate.VersionCell{{Day: day, Version: "5.7.3", Events: int64(views) + 1, PageViews: int64(views), Sketch: sk.AppendText(nil)}}
	}
	for p := range parts {
		if _, err := s.Load(ctx, p); err != nil {
			t.Fatal(err)
		}
		c1 := &rtstate.Commit{Partition: p, Expect: -1, Offset: 10, Owner: "a", Closed: first,
			Cells:    append(cells(p, first, 120, false), cells(p, first+1, 90, false)...),
			Versions: versions(p, first, 30)}
		c2 := &rtstate.Commit{Partition: p, Expect: 10, Offset: 20, Owner: "a", Closed: first + 2,
			Cells:    append(cells(p, first+2, 60, false), cells(p, first, 15, true)...),
			Versions: versions(p, first+1, 20)}
		for _, c := range []*rtstate.Commit{c1, c2} {
			if err := s.Commit(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

// rollUpAnswers is everything the readers answer of the seeded days.
func rollUpAnswers(t *testing.T, s *Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	first, _ := event.ParseDate("2023-07-01")
	out := map[string]string{}
	for _, seg := range rollUpSegments {
		n, err := s.Active(ctx, first, first+2, seg)
		if err != nil {
			t.Fatal(err)
		}
		out["active 3 days "+seg.String()] = fmt.Sprint(n)
		for day := first; day <= first+2; day++ {
			n, err := s.Active(ctx, day, day, seg)
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.Day(ctx, day, seg)
			if err != nil {
				t.Fatal(err)
			}
			name := event.Date(day) + " " + seg.String()
			out["dau "+name], out["counts "+name] = fmt.Sprint(n), fmt.Sprintf("%+v", c)
		}
	}
	for day := first; day <= first+2; day++ {
		vs, err := s.AppVersions(ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range vs {
			p50, _ := v.Sketch.Percentile(50)
			out["versions "+event.Date(day)+" "+name] = fmt.Sprint(v.Events, v.PageViews, v.Sketch.Count(), p50)
		}
	}
	return out
}

func sameAnswers(t *testing.T, when string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s = %s, want %s", when, k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s = %s, want nothing", when, k, g)
		}
	}
}

// dayKeys returns the keys that name date, and their total MEMORY USAGE.
func dayKeys(t testing.TB, rdb *redis.Client, date string) ([]string, int64) {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*"+date+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var bytes int64
	for _, k := range keys {
		n, err := rdb.MemoryUsage(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		bytes += n
	}
	slices.Sort(keys)
	return keys, bytes
}

// TestRollUpCrashAtEveryStep crashes a roll-up after each of its writes in turn: every answer stays
// the same in the crashed state and after the roll-up runs again, and the closed days keep no
// per-partition key.
func TestRollUpCrashAtEveryStep(t *testing.T) {
	_, rdb := newStore(t)
	hook := &crashHook{}
	rdb.AddHook(hook)
	ctx := context.Background()
	want := rollUpAnswers(t, seedRollUp(t, rdb, 3))
	if want["dau 2023-07-01 all"] == "0" || !strings.Contains(want["counts 2023-07-01 all"], "Late:15") {
		t.Fatalf("seed: %v", want)
	}
	for n := 0; ; n++ {
		if err := rdb.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		s := seedRollUp(t, rdb, 3)
		hook.arm(n)
		_, err := s.RollUp(ctx, 3)
		hook.disarm()
		if err == nil {
			if n < 10 {
				t.Fatalf("a roll-up of two days on 3 partitions done in %d writes", n)
			}
			t.Logf("a roll-up took %d writes", n)
			break
		}
		if !errors.Is(err, errCrash) {
			t.Fatalf("crash after %d writes: %v", n, err)
		}
		sameAnswers(t, fmt.Sprintf("crashed after %d writes", n), rollUpAnswers(t, s), want)
		if _, err := s.RollUp(ctx, 3); err != nil {
			t.Fatalf("after a crash after %d writes: %v", n, err)
		}
		if index, err := rdb.HGetAll(ctx, s.indexKey()).Result(); err != nil || len(index) != 2 || index["2023-07-01"] != "3" || index["2023-07-02"] != "3" {
			t.Fatalf("after a crash after %d writes: index %v, %v; want the first two days over 3 partitions", n, index, err)
		}
		sameAnswers(t, fmt.Sprintf("rolled up again after a crash after %d writes", n), rollUpAnswers(t, s), want)
		for _, d := range []string{"2023-07-01", "2023-07-02"} {
			keys, _ := dayKeys(t, rdb, d)
			for _, k := range keys {
				if strings.Contains(k, "{interactions/") {
					t.Errorf("after a crash after %d writes: %s is left", n, k)
				}
			}
		}
		if t.Failed() {
			return
		}
	}
}

// TestRollUpLateAndConcurrent runs two roll-ups at once, then checkpoints a late event of a rolled-up
// day: it counts as active and late, and no per-partition sketch of the day comes back.
func TestRollUpLateAndConcurrent(t *testing.T) {
	_, rdb := newStore(t)
	ctx := context.Background()
	first, _ := event.ParseDate("2023-07-01")
	s := seedRollUp(t, rdb, 3)
	want := rollUpAnswers(t, s)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := s.RollUp(ctx, 3); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	sameAnswers(t, "two roll-ups at once", rollUpAnswers(t, s), want)
	if cov, err := rdb.HGet(ctx, s.indexKey(), "2023-07-02").Result(); err != nil || cov != "3" {
		t.Fatalf("2023-07-02 is not in the index: %q, %v", cov, err)
	}
	// Nothing closes the third day: it stays per partition.
	if keys, _ := dayKeys(t, rdb, "2023-07-03"); !slices.Contains(keys, s.usersKey(0, first+2, rtstate.Segment{})) {
		t.Errorf("2023-07-03 was rolled up: %v", keys)
	}

	dau := func() uint64 {
		n, err := s.Active(ctx, first, first, rtstate.Segment{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := dau()
	late := &rtstate.Commit{Partition: 1, Expect: 20, Offset: 30, Owner: "a", Closed: first + 2, Cells: []rtstate.Cell{
		{Day: first, Users: sketchOf("late-1", "late-2"), Counts: rtstate.Counts{Valid: 2, Late: 2}},
	}}
	if err := s.Commit(ctx, late); err != nil {
		t.Fatal(err)
	}
	if got := dau(); got != before+2 {
		t.Errorf("dau after two late users = %d, want %d", got, before+2)
	}
	c, err := s.Day(ctx, first, rtstate.Segment{})
	if err != nil || c.Late != 17 {
		t.Errorf("late count = %d, %v; want 17", c.Late, err)
	}
	if n, err := rdb.Exists(ctx, s.usersKey(1, first, rtstate.Segment{})).Result(); err != nil || n != 0 {
		t.Errorf("a late event wrote partition 1's sketch of a rolled-up day: %d, %v", n, err)
	}
	// A roll-up of the day again changes nothing.
	if _, err := s.RollUp(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if got := dau(); got != before+2 {
		t.Errorf("dau after another roll-up = %d, want %d", got, before+2)
	}
}

// TestRollUpMemoryOfPartitions writes the same users of the same days over 2 and over 8 partitions:
// once rolled up, a closed day has as many keys, and about as many bytes, whatever the partitions.
func TestRollUpMemoryOfPartitions(t *testing.T) {
	_, rdb := newStore(t)
	ctx := context.Background()
	type footprint struct {
		keys  int
		bytes int64
	}
	measure := func(parts int32) (before, after footprint) {
		if err := rdb.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		s := seedRollUp(t, rdb, parts)
		keys, bytes := dayKeys(t, rdb, "2023-07-02")
		before = footprint{len(keys), bytes}
		if _, err := s.RollUp(ctx, parts); err != nil {
			t.Fatal(err)
		}
		keys, bytes = dayKeys(t, rdb, "2023-07-02")
		return before, footprint{len(keys), bytes}
	}
	before2, after2 := measure(2)
	before8, after8 := measure(8)
	t.Logf("keys and bytes of a day: 2 partitions %+v, rolled up %+v; 8 partitions %+v, rolled up %+v", before2, after2, before8, after8)
	if before8.keys <= before2.keys {
		t.Fatalf("before the roll-up, 8 partitions hold %d keys of a day, 2 hold %d", before8.keys, before2.keys)
	}
	if after8.keys != after2.keys {
		t.Errorf("rolled up, a day has %d keys on 8 partitions, %d on 2", after8.keys, after2.keys)
	}
	if d := after8.bytes - after2.bytes; d < 0 || 10*d > after2.bytes {
		t.Errorf("rolled up, a day takes %d bytes on 8 partitions, %d on 2: more than 10%% apart", after8.bytes, after2.bytes)
	}
}

// BenchmarkDayBytes reports the Redis bytes of one retained day at a million daily users, where every
// partition's sketch is dense, on 8 and on 64 partitions, before and after its roll-up.
func BenchmarkDayBytes(b *testing.B) {
	const users = 1_000_000
	segs := []rtstate.Segment{{}, {Dimension: "country", Value: "US"}, {Dimension: "country", Value: "FR"}}
	day, _ := event.ParseDate("2023-07-01")
	for _, parts := range []int32{8, 64} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			s, rdb := newStore(b)
			ctx := context.Background()
			var before, after int64
			for range b.N {
				if err := rdb.FlushDB(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				clear(s.announced)
				for p := range parts {
					if _, err := s.Load(ctx, p); err != nil {
						b.Fatal(err)
					}
					sketches := make([]hll.Sketch, len(segs))
					for id := int(p); id < users; id += int(parts) {
						u := "u" + strconv.Itoa(id)
						sketches[0].AddString(u)
						sketches[1+id%2].AddString(u)
					}
					var cells []rtstate.Cell
					for i, seg := range segs {
						n := int64(users / int(parts) / 2)
						cells = append(cells, rtstate.Cell{Day: day, Segment: seg, Users: sketches[i].AppendRedis(nil),
							Counts: rtstate.Counts{Valid: 3 * n, Sessions: metric.Sessions{Count: n, DurationMs: 1000 * n, Actions: 3 * n}}})
					}
					c := &rtstate.Commit{Partition: p, Expect: -1, Offset: 10, Owner: "a", Closed: day + 1, Cells: cells}
					if err := s.Commit(ctx, c); err != nil {
						b.Fatal(err)
					}
				}
				_, before = dayKeys(b, rdb, "2023-07-01")
				if _, err := s.RollUp(ctx, parts); err != nil {
					b.Fatal(err)
				}
				_, after = dayKeys(b, rdb, "2023-07-01")
			}
			b.ReportMetric(float64(before), "bytes/day-before")
			b.ReportMetric(float64(after), "bytes/day-rolled-up")
		})
	}
}

// TestRollUpRefusesTooFewPartitions tells a roll-up of 3 checkpointed partitions that the topic has 1
// (a listing of a topic not created yet): it fails with a clear error and rolls up nothing.
func TestRollUpRefusesTooFewPartitions(t *testing.T) {
	_, rdb := newStore(t)
	ctx := context.Background()
	s := seedRollUp(t, rdb, 3)
	want := rollUpAnswers(t, s)
	days, err := s.RollUp(ctx, 1)
	if err == nil || !strings.Contains(err.Error(), "partition 2 has checkpointed") {
		t.Fatalf("roll-up over 1 of 3 partitions: days %v, err %v; want a refusal naming partition 2", days, err)
	}
	if n, err := rdb.HLen(ctx, s.indexKey()).Result(); err != nil || n != 0 {
		t.Fatalf("index has %d days (%v) after a refused roll-up", n, err)
	}
	sameAnswers(t, "after a refused roll-up", rollUpAnswers(t, s), want)
	if days, err := s.RollUp(ctx, 3); err != nil || len(days) != 2 {
		t.Fatalf("roll-up over the 3 partitions: days %v, err %v; want 2 days", days, err)
	}
}
