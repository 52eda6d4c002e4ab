// Package hll is a HyperLogLog sketch byte-compatible with Redis's PFADD, PFMERGE and PFCOUNT.
package hll

import (
	"encoding/binary"
	"math/bits"
)

// Redis's parameters (src/hyperloglog.c): 2^14 registers of 6 bits; the hash bits above the register
// index give the run length, capped at q+1 by a sentinel bit.
const (
	precision = 14
	q         = 64 - precision

	// NumRegisters is the number of registers, Redis's HLL_REGISTERS.
	NumRegisters = 1 << precision

	indexMask = NumRegisters - 1
)

// Sketch is a HyperLogLog with Redis's parameters (16384 six-bit registers). The zero value is an
// empty sketch. A Sketch is not safe for concurrent use.
type Sketch struct {
	// One byte per register: Redis's in-memory "raw" layout, the fastest to update. The packed
	// encodings exist only on the wire.
	regs [NumRegisters]uint8
}

// New returns an empty sketch.
func New() *Sketch { return &Sketch{} }

// Reset empties s, so it can be reused without allocating.
func (s *Sketch) Reset() { s.regs = [NumRegisters]uint8{} }

// Add adds an element, as PFADD does.
func (s *Sketch) Add(elem []byte) { s.addHash(Hash(elem)) }

// AddString is Add for a string, without allocating.
func (s *Sketch) AddString(elem string) { s.addHash(Hash(elem)) }

// addHash is Redis's hllPatLen followed by a register update.
func (s *Sketch) addHash(h uint64) {
	idx := h & indexMask
	run := uint8(bits.TrailingZeros64(h>>precision|1<<q) + 1)
	if run > s.regs[idx] {
		s.regs[idx] = run
	}
}

// Merge makes s the union of s and o, as PFMERGE does.
func (s *Sketch) Merge(o *Sketch) {
	// Eight registers at a time. Registers are below 128, so (a|0x80)-b cannot borrow across bytes
	// and its top bit per byte says a >= b.
	const high = 0x8080808080808080
	for i := 0; i < NumRegisters; i += 8 {
		a := binary.LittleEndian.Uint64(s.regs[i:])
		b := binary.LittleEndian.Uint64(o.regs[i:])
		ge := (((a | high) - b) & high) >> 7 * 0xff
		binary.LittleEndian.PutUint64(s.regs[i:], a&ge|b&^ge)
	}
}

// Register returns the value of register i, as PFDEBUG GETREG lists it. It panics if i is not in
// [0, NumRegisters).
func (s *Sketch) Register(i int) uint8 { return s.regs[i] }

// Count estimates the number of distinct elements exactly as PFCOUNT does.
func (s *Sketch) Count() uint64 {
	histo := s.histogram()
	return estimate(&histo)
}

// histogram counts the registers of each value.
func (s *Sketch) histogram() [64]int {
	// Four partial histograms: most registers hold one of a few values, and a single histogram
	// would serialise on reloading the counter it just stored.
	var part [4][64]int
	for i := 0; i < NumRegisters; i += 4 {
		part[0][s.regs[i]&63]++
		part[1][s.regs[i+1]&63]++
		part[2][s.regs[i+2]&63]++
		part[3][s.regs[i+3]&63]++
	}
	var histo [64]int
	for v := range histo {
		histo[v] = part[0][v] + part[1][v] + part[2][v] + part[3][v]
	}
	return histo
}
