package hll

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The Redis string layout (src/hyperloglog.c, struct hllhdr): "HYLL", an encoding byte, three unused
// bytes, then the cached cardinality as 8 little-endian bytes whose top bit marks it stale.
const (
	headerSize = 16
	cacheOff   = 8

	encodingDense  = 0
	encodingSparse = 1

	// DenseSize is the exact length of a dense Redis HyperLogLog string.
	DenseSize = headerSize + NumRegisters*6/8

	// SparseMaxSize is Redis's default hll-sparse-max-bytes: the longest sparse string, header
	// included, that PFADD keeps sparse.
	SparseMaxSize = 3000
)

// Sparse opcodes: ZERO 00xxxxxx (1-64 zero registers), XZERO 01xxxxxx xxxxxxxx (1-16384 zero
// registers), VAL 1vvvvvxx (1-4 registers of value 1-32).
const (
	sparseXZeroBit  = 0x40
	sparseValBit    = 0x80
	sparseZeroMax   = 64
	sparseXZeroMax  = NumRegisters
	sparseValMax    = 32
	sparseValRunMax = 4
)

var magic = [4]byte{'H', 'Y', 'L', 'L'}

// Errors returned by Decode.
var (
	ErrMagic    = errors.New("hll: not a HyperLogLog (bad magic)")
	ErrEncoding = errors.New("hll: unknown encoding")
	ErrCorrupt  = errors.New("hll: corrupt registers")
)

// AppendRedis appends the Redis string encoding of s to dst: sparse when every register fits a
// sparse opcode and the string stays within SparseMaxSize, dense otherwise. The header carries the
// count as a valid cache, so a PFCOUNT on the key answers without recomputing.
func (s *Sketch) AppendRedis(dst []byte) []byte {
	histo := s.histogram()
	count := estimate(&histo)
	if !sparsePossible(&histo) {
		dst = appendHeader(dst, encodingDense, count)
		return s.appendDenseRegisters(dst)
	}
	start := len(dst)
	dst = appendHeader(dst, encodingSparse, count)
	sparse, ok := s.appendSparse(dst, start+SparseMaxSize)
	if ok {
		return sparse
	}
	// Keep the header, and the buffer the attempt may have grown.
	dst = sparse[:start+headerSize]
	dst[start+4] = encodingDense
	return s.appendDenseRegisters(dst)
}

// AppendDense appends the dense Redis string encoding of s to dst, with the count as a valid cache.
// Dense bytes depend only on the registers, so equal sketches give equal strings.
func (s *Sketch) AppendDense(dst []byte) []byte {
	dst = appendHeader(dst, encodingDense, s.Count())
	return s.appendDenseRegisters(dst)
}

// sparsePossible rules out the sparse encoding from the histogram alone: when a register is too
// large for VAL, or when there are more non-zero registers than VAL opcodes (four registers each)
// fit in SparseMaxSize.
func sparsePossible(histo *[64]int) bool {
	for _, n := range histo[sparseValMax+1:] {
		if n > 0 {
			return false
		}
	}
	return NumRegisters-histo[0] <= (SparseMaxSize-headerSize)*sparseValRunMax
}

func appendHeader(dst []byte, encoding byte, count uint64) []byte {
	dst = append(dst, magic[:]...)
	dst = append(dst, encoding, 0, 0, 0)
	// Only a count of 2^63, from registers hashing cannot produce, sets the top bit; the cache then
	// reads as stale, as Redis's own does after such a PFCOUNT.
	return binary.LittleEndian.AppendUint64(dst, count)
}

// appendDenseRegisters packs the registers 6 bits each from the least significant bit up: every
// four registers fill three bytes.
func (s *Sketch) appendDenseRegisters(dst []byte) []byte {
	for i := 0; i < NumRegisters; i += 4 {
		v := uint32(s.regs[i]) | uint32(s.regs[i+1])<<6 | uint32(s.regs[i+2])<<12 | uint32(s.regs[i+3])<<18
		dst = append(dst, byte(v), byte(v>>8), byte(v>>16))
	}
	return dst
}

// appendSparse appends the sparse opcodes for the registers. It reports false, leaving dst
// unspecified past its original length, if a register is too large for VAL or dst would grow past
// limit.
func (s *Sketch) appendSparse(dst []byte, limit int) ([]byte, bool) {
	for i := 0; i < NumRegisters; {
		v := s.regs[i]
		run := s.runLength(i)
		i += run
		switch {
		case v == 0:
			for run > 0 {
				n := min(run, sparseXZeroMax)
				if n <= sparseZeroMax {
					dst = append(dst, byte(n-1))
				} else {
					dst = append(dst, sparseXZeroBit|byte((n-1)>>8), byte(n-1))
				}
				run -= n
			}
		case v <= sparseValMax:
			for run > 0 {
				n := min(run, sparseValRunMax)
				dst = append(dst, sparseValBit|(v-1)<<2|byte(n-1))
				run -= n
			}
		default:
			return dst, false
		}
		if len(dst) > limit {
			return dst, false
		}
	}
	return dst, true
}

// Decode parses a Redis HyperLogLog string of either encoding. The cached cardinality is ignored:
// Count always recomputes it. Malformed input gives an error wrapping ErrMagic, ErrEncoding or
// ErrCorrupt, never a panic.
func Decode(b []byte) (*Sketch, error) {
	if len(b) < headerSize || [4]byte(b[:4]) != magic {
		return nil, ErrMagic
	}
	s := New()
	switch b[4] {
	case encodingDense:
		if len(b) != DenseSize {
			return nil, fmt.Errorf("%w: dense string of %d bytes, want %d", ErrCorrupt, len(b), DenseSize)
		}
		s.decodeDense(b[headerSize:])
	case encodingSparse:
		if err := s.decodeSparse(b[headerSize:]); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w %d", ErrEncoding, b[4])
	}
	return s, nil
}

func (s *Sketch) decodeDense(b []byte) {
	b = b[:NumRegisters*6/8]
	for i := 0; i < NumRegisters; i += 4 {
		g := b[i/4*3:]
		v := uint32(g[0]) | uint32(g[1])<<8 | uint32(g[2])<<16
		s.regs[i] = uint8(v & 63)
		s.regs[i+1] = uint8(v >> 6 & 63)
		s.regs[i+2] = uint8(v >> 12 & 63)
		s.regs[i+3] = uint8(v >> 18 & 63)
	}
}

// decodeSparse sets the registers of an empty s from sparse opcodes. It checks every run against the registers left before writing it, the check whose
// absence in Redis was CVE-2025-32023.
func (s *Sketch) decodeSparse(b []byte) error {
	idx := 0
	for p := 0; p < len(b); {
		op := b[p]
		var run int
		var v uint8
		switch {
		case op&sparseValBit != 0:
			v = (op>>2)&0x1f + 1
			run = int(op&0x3) + 1
			p++
		case op&sparseXZeroBit != 0:
			if p+1 >= len(b) {
				return fmt.Errorf("%w: truncated XZERO at byte %d", ErrCorrupt, headerSize+p)
			}
			run = (int(op&0x3f)<<8 | int(b[p+1])) + 1
			p += 2
		default:
			run = int(op&0x3f) + 1
			p++
		}
		if run > NumRegisters-idx {
			return fmt.Errorf("%w: sparse run of %d at register %d overflows", ErrCorrupt, run, idx)
		}
		if v != 0 {
			for i := idx; i < idx+run; i++ {
				s.regs[i] = v
			}
		}
		idx += run
	}
	if idx != NumRegisters {
		return fmt.Errorf("%w: sparse runs cover %d registers, want %d", ErrCorrupt, idx, NumRegisters)
	}
	return nil
}

// runLength is the number of registers from i on that equal register i. Long runs are of zeros, so
// those are skipped eight at a time.
func (s *Sketch) runLength(i int) int {
	v := s.regs[i]
	j := i + 1
	if v == 0 {
		for j+8 <= NumRegisters && binary.LittleEndian.Uint64(s.regs[j:]) == 0 {
			j += 8
		}
	}
	for j < NumRegisters && s.regs[j] == v {
		j++
	}
	return j - i
}
