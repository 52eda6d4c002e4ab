// Package hll is a HyperLogLog sketch byte-compatible with Redis's PFADD, PFMERGE and PFCOUNT.
package hll

// STUB: the API other packages build against; the implementation replaces these bodies.

// Sketch is a HyperLogLog with Redis's parameters (16384 six-bit registers).
type Sketch struct{}

// New returns an empty sketch.
func New() *Sketch { return &Sketch{} }

// Add adds an element, as PFADD does.
func (s *Sketch) Add(elem []byte) {}

// AddString is Add for a string, without allocating.
func (s *Sketch) AddString(elem string) {}

// Merge makes s the union of s and o, as PFMERGE does.
func (s *Sketch) Merge(o *Sketch) {}

// Count estimates the number of distinct elements exactly as PFCOUNT does.
func (s *Sketch) Count() uint64 { return 0 }

// AppendRedis appends the Redis string encoding (sparse when smaller, else dense) with a valid cache.
func (s *Sketch) AppendRedis(dst []byte) []byte { return dst }

// Decode parses a Redis HyperLogLog string of either encoding.
func Decode(b []byte) (*Sketch, error) { return &Sketch{}, nil }
