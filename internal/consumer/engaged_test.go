package consumer

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/rtstate"
)

func TestEngagedChanges(t *testing.T) {
	e := newEngaged()
	jul31 := event.DayOf(time.Date(2023, 7, 31, 12, 0, 0, 0, time.UTC).UnixMilli(), time.UTC)
	e.add(jul31, "a", 100)
	e.add(jul31, "b", 0)
	e.add(jul31+1, "a", 5) // August
	e.add(jul31, "a", 7)   // back to July
	got := e.appendUsers(nil)
	slices.SortFunc(got, func(x, y rtstate.EngagedUser) int {
		return strings.Compare(x.Month+x.UserID, y.Month+y.UserID)
	})
	want := []rtstate.EngagedUser{{Month: "2023-07", UserID: "a", EngagedMs: 107, Events: 2},
		{Month: "2023-07", UserID: "b", EngagedMs: 0, Events: 1}, {Month: "2023-08", UserID: "a", EngagedMs: 5, Events: 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("changes %+v, want %+v", got, want)
	}
	e.reset()
	if got := e.appendUsers(nil); len(got) != 0 {
		t.Fatalf("after reset: %+v", got)
	}
	e.add(jul31, "c", 1)
	if got := e.appendUsers(nil); len(got) != 1 || got[0].UserID != "c" || got[0].Events != 1 {
		t.Fatalf("after reset and add: %+v", got)
	}
}

// TestHandleKeepsEngagedTime: a partition counts valid events' durations per user and month, and
// nothing for rule-invalid events.
func TestHandleKeepsEngagedTime(t *testing.T) {
	p := testPartition(t, NewUsers())
	recs := interactions(2000, 30)
	bad := event.Interaction{UserID: "u1", Time: t0 + 1, Action: "hover", PageID: "p", DurationMs: 99, AppVersion: "1"}
	p.handle(append(recs, &kgo.Record{Value: record.AppendInteraction(nil, &bad), Offset: int64(len(recs))}))
	want := map[string]int64{}
	var n int64
	for _, r := range recs {
		var in event.Interaction
		if err := record.DecodeInteraction(r.Value, &in); err != nil {
			t.Fatal(err)
		}
		want[in.UserID] += in.DurationMs
		n++
	}
	var events int64
	for _, u := range p.engaged.appendUsers(nil) {
		if u.Month != "2023-07" || u.EngagedMs != want[u.UserID] {
			t.Errorf("%+v, want %d ms", u, want[u.UserID])
		}
		events += u.Events
	}
	if events != n {
		t.Fatalf("%d events counted, want %d", events, n)
	}
}

// BenchmarkEngagedMemory reports the heap one partition's power-user changes take per distinct user
// between two checkpoints (a month of 1M users all active in one interval, the worst case), and the
// checkpoint's copy of them.
//
//	go test ./internal/consumer -run '^$' -bench EngagedMemory -benchtime 1x
func BenchmarkEngagedMemory(b *testing.B) {
	const users = 1_000_000
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%d", i)
	}
	day := event.DayOf(t0, time.UTC)
	var mapBytes, copyBytes float64
	for b.Loop() {
		var before, mid, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e := newEngaged()
		for _, id := range ids {
			e.add(day, id, 1000)
		}
		runtime.GC()
		runtime.ReadMemStats(&mid)
		cp := e.appendUsers(nil)
		runtime.GC()
		runtime.ReadMemStats(&after)
		mapBytes += float64(mid.HeapAlloc-before.HeapAlloc) / users
		copyBytes += float64(after.HeapAlloc-mid.HeapAlloc) / users
		runtime.KeepAlive(e)
		runtime.KeepAlive(cp)
	}
	b.ReportMetric(mapBytes/float64(b.N), "map-bytes/user")
	b.ReportMetric(copyBytes/float64(b.N), "checkpoint-bytes/user")
}
