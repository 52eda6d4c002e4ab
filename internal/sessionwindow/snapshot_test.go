package sessionwindow

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
)

// snapshotOf feeds a generated stream to a default window and returns its snapshot (sessions open).
func snapshotOf(t testing.TB, seed uint64, users int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	w, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range genStream(r, time.UTC, users) {
		w.Add(&ev)
	}
	return w.AppendSnapshot(nil)
}

func TestRestoreCorrupt(t *testing.T) {
	snap := snapshotOf(t, 1, 20)
	w, err := Restore(Config{}, snap)
	if err != nil {
		t.Fatal(err)
	}
	if w.Open() == 0 {
		t.Fatal("test snapshot has no open sessions")
	}
	for n := range len(snap) {
		if _, err := Restore(Config{}, snap[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(snap))
		}
	}
	if _, err := Restore(Config{}, append(snap, 0)); err == nil {
		t.Fatal("trailing byte: no error")
	}
	// Any single changed byte gives an error or a window that passes every check; never a panic.
	for i := range snap {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(snap)
			b[i] ^= x
			if w, err := Restore(Config{}, b); err == nil {
				roundTrip(t, w)
			}
		}
	}
}

// roundTrip checks a restored window snapshots to bytes that restore to the same bytes, and runs.
func roundTrip(t *testing.T, w *Window) {
	t.Helper()
	snap := w.AppendSnapshot(nil)
	w2, err := Restore(Config{}, snap)
	if err != nil {
		t.Fatalf("re-restore: %v", err)
	}
	if again := w2.AppendSnapshot(nil); !bytes.Equal(again, snap) {
		t.Fatal("snapshot of a restored window differs")
	}
	open := w2.Open()
	ev := event.Interaction{UserID: "u0", Time: 1_700_000_000_000, Action: "edit", PageID: "p0"}
	w2.Add(&ev)
	w2.AdvanceTo(maxTime)
	w2.Flush()
	if got := len(w2.Drain(nil)); got < open {
		t.Fatalf("%d sessions out of %d open", got, open)
	}
}

func FuzzRestore(f *testing.F) {
	empty, _ := New(Config{})
	f.Add(empty.AppendSnapshot(nil))
	f.Add(snapshotOf(f, 1, 1))
	f.Add(snapshotOf(f, 2, 3))
	f.Add(snapshotOf(f, 3, 10))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := Restore(Config{}, b)
		if err != nil {
			return
		}
		roundTrip(t, w)
	})
}
