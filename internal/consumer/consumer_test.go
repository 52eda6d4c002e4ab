package consumer

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/metric"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/rtstate"
)

func TestUsersSegments(t *testing.T) {
	u := NewUsers()
	u.Put(&event.User{UserID: "a", Country: "US", DeviceType: "iPad", SubscriptionType: "free"})
	u.Put(&event.User{UserID: "b", Country: "US", DeviceType: "Web", SubscriptionType: "free"})
	names := func(id string) (out []rtstate.Segment) {
		for _, s := range u.Segments(id) {
			out = append(out, u.Segment(s))
		}
		return out
	}
	if got := fmt.Sprint(names("a")); got != "[country=US device_type=iPad subscription_type=free]" {
		t.Errorf("a: %s", got)
	}
	if got := fmt.Sprint(names("nobody")); got != "[country=unknown device_type=unknown subscription_type=unknown]" {
		t.Errorf("nobody: %s", got)
	}
	if u.Segments("a")[0] != u.Segments("b")[0] {
		t.Error("one country, two ids")
	}
	u.Put(&event.User{UserID: "a", Country: "DE", DeviceType: "iPad", SubscriptionType: "free"})
	if got := u.Segment(u.Segments("a")[0]); got != (rtstate.Segment{Dimension: "country", Value: "DE"}) {
		t.Errorf("after an update: %v", got)
	}
	u.Delete("a")
	if got := u.Segment(u.Segments("a")[0]).Value; got != "unknown" {
		t.Errorf("after a tombstone: %v", got)
	}
}

func TestDeltasCells(t *testing.T) {
	u := NewUsers()
	u.Put(&event.User{UserID: "a", Country: "US", DeviceType: "iPad", SubscriptionType: "free"})
	d := newDeltas()
	segs := u.Segments("a")
	d.addUser(10, segs, "a")
	d.count(10, segs, event.OK)
	d.count(10, segs, event.Late)
	d.count(11, segs, event.Duplicate)
	d.addSession(10, segs, 5000, 3)
	cells, _ := d.appendCells(nil, nil, u.Segment)
	if len(cells) != 8 {
		t.Fatalf("%d cells, want 4 segments × 2 days", len(cells))
	}
	var one hll.Sketch
	one.AddString("a")
	for _, c := range cells {
		switch c.Day {
		case 10:
			want := rtstate.Counts{Valid: 2, Late: 1, Sessions: metric.Sessions{Count: 1, DurationMs: 5000, Actions: 3}}
			if c.Counts != want || string(c.Users) != string(one.AppendRedis(nil)) {
				t.Errorf("day 10 %v: %+v %q", c.Segment, c.Counts, c.Users)
			}
		case 11:
			if c.Counts != (rtstate.Counts{Duplicate: 1}) || c.Users != nil {
				t.Errorf("day 11 %v: %+v %q", c.Segment, c.Counts, c.Users)
			}
		}
	}
	d.reset()
	if len(d.cells) != 0 || len(d.free) != 8 {
		t.Fatalf("after reset: %d cells, %d free", len(d.cells), len(d.free))
	}
	d.addUser(12, segs, "b")
	if c := d.get(12, 0); c.counts != (rtstate.Counts{}) || !c.active {
		t.Fatalf("a recycled cell kept state: %+v", c.counts)
	}
}

// testPartition returns a partition of a consumer without Kafka or Redis.
func testPartition(tb testing.TB, users *Users) *partition {
	tb.Helper()
	cfg := Config{Logger: slog.New(slog.DiscardHandler)}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	c := &Consumer{cfg: cfg, users: users, log: cfg.Logger}
	c.metrics = newMetrics(prometheus.NewRegistry(), users)
	p, err := newPartition(c, 0, rtstate.Checkpoint{Offset: -1})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

var t0 = time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// interactions returns n encoded events of users users in time order from t0, 100 ms apart.
func interactions(n, users int) []*kgo.Record {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		in := event.Interaction{UserID: fmt.Sprintf("u%d", rng.IntN(users)), Time: t0 + int64(i)*100,
			Action: event.Actions[rng.IntN(len(event.Actions))], PageID: fmt.Sprintf("p%d", rng.IntN(1000)),
			DurationMs: rng.Int64N(60_000), AppVersion: "5.7.3"}
		recs[i] = &kgo.Record{Key: []byte(in.UserID), Value: record.AppendInteraction(nil, &in), Offset: int64(i)}
	}
	return recs
}

func TestHandleCountsEvents(t *testing.T) {
	users := NewUsers()
	p := testPartition(t, users)
	recs := interactions(10_000, 100)
	// A rule-invalid event and a control record that ends the replay.
	bad := event.Interaction{UserID: "u1", Time: t0 + 1, Action: "hover", PageID: "p", AppVersion: "1"}
	recs = append(recs, &kgo.Record{Value: record.AppendInteraction(nil, &bad), Offset: int64(len(recs))})
	end := &kgo.Record{Offset: int64(len(recs)), Value: record.AppendControl(nil, record.Control{Kind: record.ControlEnd, EventTime: 1}),
		Headers: []kgo.RecordHeader{{Key: record.ControlHeader, Value: []byte(record.ControlEnd)}}}
	p.handle(append(recs, end))
	if p.next.Load() != int64(len(recs))+1 || p.win.Open() != 0 {
		t.Fatalf("next %d, open %d", p.next.Load(), p.win.Open())
	}
	c := p.deltas.get(event.DayOf(t0, time.UTC), 0).counts
	if c.Valid != 10_000 || c.UnknownAction != 1 {
		t.Fatalf("counts %+v", c)
	}
}

// BenchmarkHandle measures the hot path in batches of 500 events: decode, session window, day,
// segments, deltas. Divide allocs/op by 500 for allocations per event.
func BenchmarkHandle(b *testing.B) {
	users := NewUsers()
	for u := range 10_000 {
		users.Put(&event.User{UserID: fmt.Sprintf("u%d", u), Country: "US", DeviceType: "iPad", SubscriptionType: "free"})
	}
	const n = 500_000
	recs := interactions(n, 10_000)
	const batchSize = 500
	b.ReportAllocs()
	var p *partition
	i := 0
	for b.Loop() {
		if i%n == 0 {
			b.StopTimer()
			p = testPartition(b, users)
			b.StartTimer()
		}
		p.handle(recs[i%n : i%n+batchSize])
		i += batchSize
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/event")
}

func TestConfigValidate(t *testing.T) {
	f := func(cfg Config, ok bool) {
		t.Helper()
		if err := cfg.Validate(); (err == nil) != ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", cfg, err, ok)
		}
	}
	f(Config{}, true)
	f(Config{CheckpointInterval: time.Millisecond}, false)
	f(Config{Lateness: -time.Second}, false)
	f(Config{CheckpointRecords: -1}, false)
	var cfg Config
	cfg.Validate()
	if cfg.Group != "notestream-consumer" || cfg.TopicLate != "interactions.late" || cfg.Lateness != 5*time.Minute ||
		cfg.CheckpointInterval != time.Second || cfg.Location != time.UTC || cfg.SessionTimeout != 10*time.Second {
		t.Errorf("defaults: %+v", cfg)
	}
}

// TestPartitionCountOnlyGrows lists a topic not created yet (kadm's partition -1), then its 8
// partitions, then a listing that lacks some: the count the roll-ups use is 0, then 8 for good.
func TestPartitionCountOnlyGrows(t *testing.T) {
	var c Consumer
	missing := map[int32]kadm.ListedOffset{-1: {Partition: -1, Err: kerr.UnknownTopicOrPartition}}
	c.raisePartitions(missing)
	if n := c.topicPartitions.Load(); n != 0 {
		t.Fatalf("a missing topic counts %d partitions, want 0", n)
	}
	all := map[int32]kadm.ListedOffset{}
	for p := range int32(8) {
		all[p] = kadm.ListedOffset{Partition: p}
	}
	for _, listed := range []map[int32]kadm.ListedOffset{all, missing, {3: {Partition: 3}}} {
		c.raisePartitions(listed)
		if n := c.topicPartitions.Load(); n != 8 {
			t.Fatalf("after listing %v: %d partitions, want 8", listed, n)
		}
	}
}
