package sessionwindow

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestUserIndex checks the table against a map through random inserts, updates and deletes, with
// few users so that probe runs wrap and collide.
func TestUserIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	w := &Window{index: newUserIndex(0)}
	want := map[string]int32{}
	for step := range 200_000 {
		user := fmt.Sprintf("u%d", r.IntN(300))
		pos, tag, head := w.findUser(user)
		if wantHead, ok := want[user]; !ok && head != -1 || ok && head != wantHead {
			t.Fatalf("step %d: findUser(%s) = %d, want %d (present %v)", step, user, head, wantHead, ok)
		}
		switch {
		case head >= 0 && r.IntN(2) == 0:
			w.index.delete(pos)
			delete(want, user)
		default:
			slot := int32(len(w.slots))
			w.slots = append(w.slots, openSession{user: user})
			w.index.set(pos, tag, slot)
			want[user] = slot
		}
		if w.index.n != len(want) {
			t.Fatalf("step %d: %d entries, want %d", step, w.index.n, len(want))
		}
	}
}
