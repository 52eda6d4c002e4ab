package sessionwindow

import "hash/maphash"

// userIndex maps a user to the slot of its earliest open session. It is an open-addressing table of
// 8-byte entries, tag<<32 | slot+1 (0 is empty), probed linearly from tag & mask, where tag is 32
// bits of the user's hash. Against map[string]int32 it holds a quarter of the bytes per user and
// finds the user with one table read plus the compare on the session slot, which the caller reads
// next anyway. The user ID lives only in the slot.
type userIndex struct {
	seed  maphash.Seed
	table []uint64 // length a power of two
	n     int
}

// maxLoad is the fill, in quarters, past which the table doubles.
const maxLoad = 3

func newUserIndex(capacity int) userIndex {
	size := 8
	for size*maxLoad < 4*capacity {
		size *= 2
	}
	return userIndex{seed: maphash.MakeSeed(), table: make([]uint64, size)}
}

// findUser returns the head slot of user's open sessions, or -1, with the table position where the
// user's entry is, or would be inserted, and its tag.
func (w *Window) findUser(user string) (pos int, tag uint32, head int32) {
	x := &w.index
	tag = uint32(maphash.String(x.seed, user))
	mask := len(x.table) - 1
	for i := int(tag) & mask; ; i = (i + 1) & mask {
		e := x.table[i]
		if e == 0 {
			return i, tag, -1
		}
		if uint32(e>>32) == tag {
			if slot := int32(uint32(e)) - 1; w.slots[slot].user == user {
				return i, tag, slot
			}
		}
	}
}

// set points the entry at pos, found by findUser, to slot; an empty pos becomes a new entry. Positions
// from findUser are invalid after a set that adds an entry.
func (x *userIndex) set(pos int, tag uint32, slot int32) {
	if x.table[pos] == 0 {
		x.n++
	}
	x.table[pos] = uint64(tag)<<32 | uint64(slot+1)
	if 4*x.n > maxLoad*len(x.table) {
		x.grow()
	}
}

func (x *userIndex) grow() {
	old := x.table
	x.table = make([]uint64, 2*len(old))
	mask := len(x.table) - 1
	for _, e := range old {
		if e == 0 {
			continue
		}
		i := int(uint32(e>>32)) & mask
		for x.table[i] != 0 {
			i = (i + 1) & mask
		}
		x.table[i] = e
	}
}

// delete removes the entry at pos, shifting back later entries of its probe run so that no lookup
// stops early at the hole.
func (x *userIndex) delete(pos int) {
	mask := len(x.table) - 1
	for j := pos; ; {
		j = (j + 1) & mask
		e := x.table[j]
		if e == 0 {
			break
		}
		// The entry at j may move to pos unless its home lies cyclically in (pos, j].
		home := int(uint32(e>>32)) & mask
		if (pos < j && (home <= pos || home > j)) || (pos > j && home <= pos && home > j) {
			x.table[pos] = e
			pos = j
		}
	}
	x.table[pos] = 0
	x.n--
}
