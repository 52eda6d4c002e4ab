package quantile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The encoding, version 1: the byte 'Q', the byte 1, α as 8 bytes (IEEE 754, little-endian), the
// number of values (uvarint); when it is not 0, the count of zeros (uvarint), min and max (varints),
// the number of buckets held (uvarint) and, if there are any, the first bucket's index (varint) and
// each bucket's count (uvarint), empty buckets between included but none at either end, so a set of
// values has one encoding however its sketch was built.
const (
	magic   = 'Q'
	version = 1
	// maxBuckets bounds a decoded sketch: α = 1e-4 needs ln(2^63)/ln γ ≈ 218,000 buckets for every
	// int64, and the bound keeps a corrupt length from allocating without end.
	maxBuckets = 1 << 22
)

var errCorrupt = errors.New("quantile: corrupt sketch")

// AppendBinary appends the sketch's encoding to b.
func (s *Sketch) AppendBinary(b []byte) []byte {
	b = append(b, magic, version)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.alpha))
	b = binary.AppendUvarint(b, s.n)
	if s.n == 0 {
		return b
	}
	b = binary.AppendUvarint(b, s.zeros)
	b = binary.AppendVarint(b, s.min)
	b = binary.AppendVarint(b, s.max)
	lo, hi := 0, len(s.counts) // a merge may leave empty buckets at the ends
	for lo < hi && s.counts[lo] == 0 {
		lo++
	}
	for hi > lo && s.counts[hi-1] == 0 {
		hi--
	}
	b = binary.AppendUvarint(b, uint64(hi-lo))
	if hi > lo {
		b = binary.AppendVarint(b, int64(s.offset)+int64(lo))
		for _, c := range s.counts[lo:hi] {
			b = binary.AppendUvarint(b, c)
		}
	}
	return b
}

// Decode parses an encoding written by AppendBinary, checking that it is one AppendBinary could
// have written.
func Decode(b []byte) (*Sketch, error) {
	if len(b) < 10 || b[0] != magic {
		return nil, errCorrupt
	}
	if b[1] != version {
		return nil, fmt.Errorf("quantile: unknown sketch version %d", b[1])
	}
	s, err := New(math.Float64frombits(binary.LittleEndian.Uint64(b[2:10])))
	if err != nil {
		return nil, fmt.Errorf("quantile: corrupt sketch: %w", err)
	}
	d := decoder{b: b[10:]}
	n := d.uvarint()
	if n > 0 {
		s.zeros = d.uvarint()
		s.min, s.max = d.varint(), d.varint()
		nb := d.uvarint()
		if nb > maxBuckets || nb > uint64(len(d.b)) {
			return nil, errCorrupt
		}
		if nb > 0 {
			off := d.varint()
			if off < math.MinInt32 || off+int64(nb)-1 > math.MaxInt32 {
				return nil, errCorrupt
			}
			s.offset = int32(off)
			s.counts = make([]uint64, nb)
			for i := range s.counts {
				s.counts[i] = d.uvarint()
			}
		}
	}
	if d.bad || len(d.b) != 0 {
		return nil, errCorrupt
	}
	// The parts must agree: counts adding up to n without overflow, no empty end bucket, zeros
	// exactly when min is 0, and the end buckets those of min and max.
	s.n = s.zeros
	for _, c := range s.counts {
		if s.n+c < s.n {
			return nil, errCorrupt
		}
		s.n += c
	}
	nb := len(s.counts)
	switch {
	case s.n != n:
	case n == 0:
		return s, nil
	case s.min < 0 || s.min > s.max || (s.zeros > 0) != (s.min == 0):
	case nb == 0 && s.max != 0:
	case nb > 0 && (s.counts[0] == 0 || s.counts[nb-1] == 0 || s.max == 0 ||
		(s.min > 0 && s.index(s.min) != s.offset) || s.offset < 0 || s.index(s.max) != s.offset+int32(nb)-1):
	default:
		return s, nil
	}
	return nil, errCorrupt
}

type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}
