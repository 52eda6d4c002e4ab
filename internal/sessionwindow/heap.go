package sessionwindow

// deadline schedules the close of the session in slot; at may be earlier than the session's real
// deadline (see closeDue), never later.
type deadline struct {
	at   int64
	slot int32
}

// The heap is hand-written rather than container/heap so that moves keep openSession.heapPos current
// without an interface call per comparison.

func (w *Window) heapPush(d deadline) {
	w.heap = append(w.heap, d)
	i := len(w.heap) - 1
	w.slots[d.slot].heapPos = int32(i)
	w.heapUp(i)
}

// heapRemove removes the entry at index i.
func (w *Window) heapRemove(i int32) {
	last := len(w.heap) - 1
	if int(i) != last {
		w.heapSwap(int(i), last)
	}
	w.heap = w.heap[:last]
	if int(i) != last {
		w.heapDown(int(i))
		w.heapUp(int(i))
	}
}

func (w *Window) heapUp(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if w.heap[parent].at <= w.heap[i].at {
			return
		}
		w.heapSwap(i, parent)
		i = parent
	}
}

func (w *Window) heapDown(i int) {
	n := len(w.heap)
	for {
		least := i
		if l := 2*i + 1; l < n && w.heap[l].at < w.heap[least].at {
			least = l
		}
		if r := 2*i + 2; r < n && w.heap[r].at < w.heap[least].at {
			least = r
		}
		if least == i {
			return
		}
		w.heapSwap(i, least)
		i = least
	}
}

func (w *Window) heapSwap(i, j int) {
	w.heap[i], w.heap[j] = w.heap[j], w.heap[i]
	w.slots[w.heap[i].slot].heapPos = int32(i)
	w.slots[w.heap[j].slot].heapPos = int32(j)
}

// heapInit orders w.heap after a bulk load.
func (w *Window) heapInit() {
	for i, d := range w.heap {
		w.slots[d.slot].heapPos = int32(i)
	}
	for i := len(w.heap)/2 - 1; i >= 0; i-- {
		w.heapDown(i)
	}
}
