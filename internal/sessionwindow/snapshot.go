package sessionwindow

import (
	"encoding/binary"
	"fmt"

	"github.com/notestream/notestream/internal/event"
)

// Snapshot format, version 1 (integers are varints unless noted, u = unsigned):
//
//	"NSSW" version:byte(1)
//	gap_ms:u  lateness_ms+1:u (0 = Unbounded)  zone_len:u zone:bytes
//	max_event_time  sessions:u
//	sessions × { user_len:u user:bytes  start  engaged_ms:u  events:u  events × key:uint64 LE }
//
// Sessions of one user are consecutive and in start order. Keys are the session's makeKey values, so
// the duplicate set survives a restart exactly.
const (
	snapshotMagic   = "NSSW"
	snapshotVersion = 1
	// minSessionBytes is the smallest encoding of one session; it bounds the count a snapshot of a
	// given size may claim, so corrupt input cannot make Restore allocate much.
	minSessionBytes = 1 + 1 + 1 + 1 + 1 + 8
	maxZoneName     = 255
)

// AppendSnapshot appends a versioned encoding of all open state to dst. Sessions closed but not yet
// drained are not part of it: Drain first.
func (w *Window) AppendSnapshot(dst []byte) []byte {
	dst = append(dst, snapshotMagic...)
	dst = append(dst, snapshotVersion)
	dst = binary.AppendUvarint(dst, uint64(w.gap))
	dst = binary.AppendUvarint(dst, w.latenessCode())
	zone := w.loc.String()
	dst = binary.AppendUvarint(dst, uint64(len(zone)))
	dst = append(dst, zone...)
	dst = binary.AppendVarint(dst, w.maxTime)
	dst = binary.AppendUvarint(dst, uint64(w.Open()))
	// Slot order, each user's sessions together from its head: deterministic for a given history,
	// and a restored window snapshots to the same bytes.
	for slot := range w.slots {
		s := &w.slots[slot]
		if s.heapPos < 0 {
			continue
		}
		if _, _, head := w.findUser(s.user); head != int32(slot) {
			continue
		}
		for p := int32(slot); p >= 0; p = w.slots[p].next {
			s := &w.slots[p]
			dst = binary.AppendUvarint(dst, uint64(len(s.user)))
			dst = append(dst, s.user...)
			dst = binary.AppendVarint(dst, s.start())
			dst = binary.AppendUvarint(dst, uint64(s.engaged))
			dst = binary.AppendUvarint(dst, uint64(len(s.keys)))
			for _, k := range s.keys {
				dst = binary.LittleEndian.AppendUint64(dst, k)
			}
		}
	}
	return dst
}

func (w *Window) latenessCode() uint64 {
	if w.unbounded {
		return 0
	}
	return uint64(w.lateness) + 1
}

func latenessString(code uint64) string {
	if code == 0 {
		return "unbounded"
	}
	return fmt.Sprintf("%dms", code-1)
}

// Restore rebuilds a window from AppendSnapshot's bytes. cfg must equal the config the snapshot was
// made with (after defaults): sessions were cut by it. Every invariant of the open state is checked,
// so corrupt bytes give an error, never a panic or a window that differs from some real history.
func Restore(cfg Config, b []byte) (*Window, error) {
	w, err := New(cfg)
	if err != nil {
		return nil, err
	}
	d := decoder{b: b}
	if string(d.bytes(len(snapshotMagic))) != snapshotMagic {
		return nil, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	if v := d.bytes(1); d.err == nil && v[0] != snapshotVersion {
		return nil, fmt.Errorf("sessionwindow: snapshot version %d, want %d", v[0], snapshotVersion)
	}
	gap, lateness := d.uvarint(), d.uvarint()
	zone := d.bytes(int(min(d.uvarint(), maxZoneName+1)))
	if d.err != nil {
		return nil, d.err
	}
	if gap != uint64(w.gap) || lateness != w.latenessCode() || string(zone) != w.loc.String() {
		return nil, fmt.Errorf("sessionwindow: snapshot made with gap %dms, lateness %s, zone %q; config has %dms, %s, %q",
			gap, latenessString(lateness), zone, w.gap, latenessString(w.latenessCode()), w.loc.String())
	}
	w.maxTime = d.varint()
	n := d.uvarint()
	if d.err != nil {
		return nil, d.err
	}
	if n > uint64(len(d.b)/minSessionBytes) {
		return nil, fmt.Errorf("%w: %d sessions in %d bytes", errCorrupt, n, len(d.b))
	}
	w.slots = make([]openSession, 0, n)
	w.index = newUserIndex(int(n))
	w.heap = make([]deadline, 0, n)
	wm := w.Watermark()
	for i := range int(n) {
		s, err := w.decodeSession(&d, wm)
		if err != nil {
			return nil, fmt.Errorf("session %d: %w", i, err)
		}
		slot := int32(len(w.slots))
		if err := w.link(s, slot); err != nil {
			return nil, fmt.Errorf("session %d: %w", i, err)
		}
		w.slots = append(w.slots, s)
		w.heap = append(w.heap, deadline{at: w.deadline(&s), slot: slot})
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	w.heapInit()
	return w, nil
}

// decodeSession reads one session and checks it is one the window could hold open at watermark wm.
func (w *Window) decodeSession(d *decoder, wm int64) (openSession, error) {
	userLen := d.uvarint()
	if d.err == nil && (userLen == 0 || userLen > uint64(len(d.b))) {
		return openSession{}, fmt.Errorf("%w: user length %d", errCorrupt, userLen)
	}
	user := d.bytes(int(userLen))
	start, engaged, count := d.varint(), d.uvarint(), d.uvarint()
	if d.err != nil {
		return openSession{}, d.err
	}
	if start < minTime || start > maxTime {
		return openSession{}, fmt.Errorf("%w: start %d out of range", errCorrupt, start)
	}
	if count == 0 || count > uint64(len(d.b)/8) {
		return openSession{}, fmt.Errorf("%w: %d events", errCorrupt, count)
	}
	if engaged > count*event.MaxDurationMs {
		return openSession{}, fmt.Errorf("%w: engaged %dms over %d events", errCorrupt, engaged, count)
	}
	s := openSession{dayEnd: w.days.end(start), engaged: int64(engaged), next: -1}
	s.keys = make([]uint64, count)
	prev := start
	for i := range s.keys {
		k := d.uint64()
		t := keyTime(k, s.dayEnd)
		switch {
		case i == 0 && t != start:
			return openSession{}, fmt.Errorf("%w: first event at %d, start %d", errCorrupt, t, start)
		case i > 0 && (k <= s.keys[i-1] || t-prev >= w.gap):
			return openSession{}, fmt.Errorf("%w: events out of order or apart by a gap", errCorrupt)
		case t >= s.dayEnd || t > w.maxTime:
			return openSession{}, fmt.Errorf("%w: event at %d past its day or the max event time", errCorrupt, t)
		}
		s.keys[i], prev = k, t
	}
	if w.deadline(&s) <= wm {
		return openSession{}, fmt.Errorf("%w: session due to close at watermark %d", errCorrupt, wm)
	}
	s.user = string(user)
	return s, nil
}

// link makes slot the last open session of its user: its sessions must be consecutive in the snapshot,
// in start order, and apart as sessions are.
func (w *Window) link(s openSession, slot int32) error {
	if slot > 0 {
		p := &w.slots[slot-1]
		if p.user == s.user {
			if p.end() >= s.start() || (p.dayEnd == s.dayEnd && s.start()-p.end() < w.gap) {
				return fmt.Errorf("%w: user %q has overlapping or joinable sessions", errCorrupt, s.user)
			}
			p.next = slot
			return nil
		}
	}
	pos, tag, head := w.findUser(s.user)
	if head >= 0 {
		return fmt.Errorf("%w: sessions of user %q are not together", errCorrupt, s.user)
	}
	w.index.set(pos, tag, slot)
	return nil
}

// decoder reads a snapshot; after the first error every read returns zero values and err stays set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated", errCorrupt)
	}
	d.b = nil
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if b := d.bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if d.err != nil || n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if d.err != nil || n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}
