package sessionwindow

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
)

// inOrder generates an endless in-order stream over a fixed set of users: every user acts once a
// minute, in user order, for 20 minutes, then all pause 40 minutes; sessions of 20 events close
// at each pause (and at midnight). Like a consumer's decoded records, consecutive events of a user
// carry equal user IDs in different memory (two copies, alternating), so comparing them reads bytes.
type inOrder struct {
	evs   []event.Interaction
	users [2][]string
	step  int64 // ms between consecutive users' events
	lap   int64
	i     int
	base  int64
}

func newInOrder(users int) *inOrder {
	g := &inOrder{
		evs:  make([]event.Interaction, users),
		step: 60_000 / int64(users),
		base: time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
	}
	for c := range g.users {
		g.users[c] = make([]string, users)
		for u := range users {
			g.users[c][u] = fmt.Sprintf("u%07d", u)
		}
	}
	for u := range g.evs {
		g.evs[u] = event.Interaction{
			Action:     event.Actions[u%len(event.Actions)],
			PageID:     fmt.Sprintf("p%d", u%97),
			DurationMs: int64(u % 30_000),
			AppVersion: "5.7.3",
		}
	}
	return g
}

// next returns the next event; it reuses the generator's slice, so it allocates nothing.
func (g *inOrder) next() *event.Interaction {
	if g.i == len(g.evs) {
		g.i = 0
		g.lap++
	}
	ev := &g.evs[g.i]
	ev.UserID = g.users[g.lap%2][g.i]
	ev.Time = g.base + g.lap/20*3_600_000 + g.lap%20*60_000 + int64(g.i)*g.step
	g.i++
	return ev
}

func BenchmarkAddInOrder(b *testing.B) {
	for _, zone := range []string{"UTC", "Europe/Berlin"} {
		b.Run("zone="+zone, func(b *testing.B) {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				b.Fatal(err)
			}
			benchmarkAddInOrder(b, loc)
		})
	}
}

func benchmarkAddInOrder(b *testing.B, loc *time.Location) {
	const users = 100_000
	g := newInOrder(users)
	w, _ := New(Config{Location: loc})
	var out []Session
	// Warm up through two pauses so that slots, key slices and the map have their steady size.
	for range 2 * 20 * users {
		w.Add(g.next())
		out = w.Drain(out[:0])
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	closed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if r := w.Add(g.next()); r != event.OK {
			b.Fatalf("reason %v", r)
		}
		if g.i == users {
			out = w.Drain(out[:0])
			closed += len(out)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "mallocs/event")
	if closed > 0 {
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(closed), "mallocs/closed-session")
	}
}

// openWindow returns a window holding n open sessions of eventsEach events, one user each.
func openWindow(tb testing.TB, n, eventsEach int) *Window {
	w, err := New(Config{})
	if err != nil {
		tb.Fatal(err)
	}
	t0 := time.Date(2023, 7, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	for u := range n {
		user := fmt.Sprintf("u%07d", u)
		for e := range eventsEach {
			ev := event.Interaction{UserID: user, Time: t0 + int64(e)*1000, Action: "edit", PageID: "p1", DurationMs: 10}
			if r := w.Add(&ev); r != event.OK {
				tb.Fatalf("reason %v", r)
			}
		}
	}
	return w
}

// BenchmarkOpenSessionBytes reports the heap held per open session: slot, map entry, heap entry and
// keys (the duplicate set: 8 bytes per event, rounded up to the slice's capacity), with the slack of
// growing slices and the map, but not the user ID strings, which the events own.
func BenchmarkOpenSessionBytes(b *testing.B) {
	const n = 1_000_000
	for _, events := range []int{1, 10} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			users := make([]string, n)
			for u := range users {
				users[u] = fmt.Sprintf("u%07d", u)
			}
			t0 := time.Date(2023, 7, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
			var perSession, dupSet float64
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				w, _ := New(Config{})
				for e := range events {
					for _, u := range users {
						ev := event.Interaction{UserID: u, Time: t0 + int64(e)*1000, Action: "edit", PageID: "p1"}
						w.Add(&ev)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSession = float64(after.HeapAlloc-before.HeapAlloc) / float64(w.Open())
				keyBytes := 0
				for i := range w.slots {
					keyBytes += 8 * cap(w.slots[i].keys)
				}
				dupSet = float64(keyBytes) / float64(w.Open())
			}
			b.ReportMetric(perSession, "B/session")
			b.ReportMetric(perSession-dupSet, "B/session-excl-dupset")
		})
	}
}

func BenchmarkSnapshot1M(b *testing.B) {
	w := openWindow(b, 1_000_000, 3)
	buf := w.AppendSnapshot(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		buf = w.AppendSnapshot(buf[:0])
	}
	b.ReportMetric(float64(len(buf))/1e6, "MB")
}

func BenchmarkRestore1M(b *testing.B) {
	snap := openWindow(b, 1_000_000, 3).AppendSnapshot(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w, err := Restore(Config{}, snap)
		if err != nil || w.Open() != 1_000_000 {
			b.Fatalf("restore: %v", err)
		}
	}
}
