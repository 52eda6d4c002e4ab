package hll

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
)

// Vectors checked against redis-server 7.0.15 (FIELD-NOTES.md).
func TestRedisVectors(t *testing.T) {
	s := New()
	s.AddString("a")
	// PFADD of "a" gives this string, its cache marked stale; AppendRedis writes the computed count.
	redis, _ := hex.DecodeString("48594c4c01000000000000000000008071a6844e57")
	want := append(append(redis[:8:8], 1, 0, 0, 0, 0, 0, 0, 0), redis[16:]...)
	if got := s.AppendRedis(nil); !bytes.Equal(got, want) {
		t.Fatalf("AppendRedis(a) = %x, want %x", got, want)
	}
	d, err := Decode(redis)
	if err != nil {
		t.Fatal(err)
	}
	if *d != *s {
		t.Fatal("Decode(PFADD a) differs from the Go sketch")
	}
	if got := d.Count(); got != 1 {
		t.Fatalf("Count = %d, want 1", got)
	}

	s.Reset()
	for i := range 10000 {
		s.AddString("user:" + strconv.Itoa(i))
	}
	if got := s.Count(); got != 10089 {
		t.Fatalf("Count(user:0..9999) = %d, want 10089", got)
	}
}

func TestEmpty(t *testing.T) {
	var s Sketch
	if got := s.Count(); got != 0 {
		t.Fatalf("Count = %d, want 0", got)
	}
	// Redis's empty sketch: one XZERO over every register.
	want, _ := hex.DecodeString("48594c4c0100000000000000000000007fff")
	if got := s.AppendRedis(nil); !bytes.Equal(got, want) {
		t.Fatalf("AppendRedis = %x, want %x", got, want)
	}
}

// Redis answers 2^63 for estimates past the int64 range, seen with redis-server 7.0.15.
func TestCountSaturates(t *testing.T) {
	for _, v := range []uint8{50, 51, 52, 63} {
		var s Sketch
		for i := range s.regs {
			s.regs[i] = v
		}
		if got := s.Count(); got != 1<<63 {
			t.Errorf("every register %d: Count = %d, want 2^63", v, got)
		}
	}
}

func TestAddStringMatchesAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 40)
	for n := range len(buf) {
		for range 50 {
			for i := range n {
				buf[i] = byte(r.Uint32())
			}
			if Hash(buf[:n]) != Hash(string(buf[:n])) {
				t.Fatalf("Hash differs for %x", buf[:n])
			}
		}
	}
	s := New()
	id := strconv.Itoa(r.IntN(1e6))
	if allocs := testing.AllocsPerRun(100, func() { s.AddString(id) }); allocs != 0 {
		t.Fatalf("AddString allocates %v times", allocs)
	}
}

// TestRoundTrip encodes sketches across the sparse-to-dense switch and decodes them back.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 10, 100, 500, 1000, 2000, 3000, 5000, 20000, 100000} {
		s := New()
		for range n {
			s.addHash(r.Uint64())
		}
		for _, enc := range []struct {
			name string
			b    []byte
		}{{"redis", s.AppendRedis(nil)}, {"dense", s.AppendDense(nil)}} {
			d, err := Decode(enc.b)
			if err != nil {
				t.Fatalf("n=%d %s: %v", n, enc.name, err)
			}
			if *d != *s {
				t.Fatalf("n=%d %s: registers differ after a round trip", n, enc.name)
			}
			if got, want := cache(enc.b), s.Count(); got != want {
				t.Fatalf("n=%d %s: cache %d, want %d", n, enc.name, got, want)
			}
		}
		if b := s.AppendDense(nil); len(b) != DenseSize || b[4] != encodingDense {
			t.Fatalf("n=%d: AppendDense gave %d bytes, encoding %d", n, len(b), b[4])
		}
		// Sparse exactly when the opcodes fit, whatever shortcut AppendRedis takes.
		_, fits := s.appendSparse(nil, SparseMaxSize-headerSize)
		if b := s.AppendRedis(nil); (b[4] == encodingSparse) != fits {
			t.Fatalf("n=%d: encoding %d, though sparse fits: %v", n, b[4], fits)
		}
	}
}

// A register over 32 has no sparse opcode, so the sketch goes dense however few registers are set.
func TestLargeRegisterForcesDense(t *testing.T) {
	s := New()
	s.regs[7] = sparseValMax + 1
	if b := s.AppendRedis(nil); b[4] != encodingDense {
		t.Fatalf("encoding %d, want dense", b[4])
	}
	s.regs[7] = sparseValMax
	if b := s.AppendRedis(nil); b[4] != encodingSparse {
		t.Fatalf("encoding %d, want sparse", b[4])
	}
}

// TestSparseLimit: a string of exactly SparseMaxSize stays sparse, one byte more goes dense.
func TestSparseLimit(t *testing.T) {
	f := func(ones int, want byte, wantLen int) {
		t.Helper()
		var s Sketch
		for i := range ones {
			s.regs[i] = 1 // VAL opcodes of four registers, then one XZERO
		}
		b := s.AppendRedis(nil)
		if b[4] != want || len(b) != wantLen {
			t.Fatalf("%d ones: encoding %d of %d bytes, want %d of %d", ones, b[4], len(b), want, wantLen)
		}
	}
	f(4*(SparseMaxSize-headerSize-2), encodingSparse, SparseMaxSize)
	f(4*(SparseMaxSize-headerSize-2)+1, encodingDense, DenseSize)
	f(4*(SparseMaxSize-headerSize-1), encodingDense, DenseSize)
	f(NumRegisters, encodingDense, DenseSize)
}

func TestAppendKeepsPrefix(t *testing.T) {
	s := New()
	for i := range 50000 {
		s.AddString(strconv.Itoa(i))
	}
	got := s.AppendRedis([]byte("prefix"))
	if !bytes.HasPrefix(got, []byte("prefixHYLL")) || len(got) != len("prefix")+DenseSize {
		t.Fatalf("AppendRedis lost the prefix or has %d bytes", len(got))
	}
}

func TestMerge(t *testing.T) {
	a, b, both := New(), New(), New()
	for i := range 30000 {
		e := "e" + strconv.Itoa(i)
		if i%3 != 0 {
			a.AddString(e)
		}
		if i%3 == 0 || i%2 == 0 {
			b.AddString(e)
		}
		both.AddString(e)
	}
	a.Merge(b)
	if *a != *both {
		t.Fatal("Merge differs from adding every element to one sketch")
	}
}

func TestDecodeErrors(t *testing.T) {
	dense := New().AppendDense(nil)
	f := func(name string, b []byte, want error) {
		t.Helper()
		s, err := Decode(b)
		if !errors.Is(err, want) || s != nil {
			t.Fatalf("%s: Decode = %v, %v; want %v", name, s, err, want)
		}
	}
	hdr := func(enc byte, ops ...byte) []byte {
		return append([]byte{'H', 'Y', 'L', 'L', enc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ops...)
	}
	f("empty", nil, ErrMagic)
	f("short header", []byte("HYLL\x01"), ErrMagic)
	f("bad magic", append([]byte("HYLX"), dense[4:]...), ErrMagic)
	f("encoding 2", hdr(2, 0x7f, 0xff), ErrEncoding)
	f("raw encoding 255", hdr(255, 0x7f, 0xff), ErrEncoding)
	f("dense short", dense[:DenseSize-1], ErrCorrupt)
	f("dense long", append(dense, 0), ErrCorrupt)
	f("dense header only", dense[:headerSize], ErrCorrupt)
	f("sparse no ops", hdr(1), ErrCorrupt)
	f("sparse too few", hdr(1, 0x7f, 0xfe), ErrCorrupt)
	f("sparse too many", hdr(1, 0x7f, 0xff, 0x00), ErrCorrupt)
	f("sparse truncated xzero", hdr(1, 0x7f), ErrCorrupt)
	f("sparse xzero then truncated", hdr(1, 0x7f, 0xfe, 0x40), ErrCorrupt)
	// CVE-2025-32023: runs whose sum wraps a 32-bit counter must not write out of bounds.
	many := hdr(1)
	for range 1 << 16 {
		many = append(many, 0x7f, 0xff)
	}
	f("sparse overflowing runs", many, ErrCorrupt)
	f("sparse val past end", hdr(1, 0x7f, 0xfe, 0x83), ErrCorrupt)

	ok := hdr(1, 0x7f, 0xfc, 0x82)
	s, err := Decode(ok)
	if err != nil {
		t.Fatal(err)
	}
	for i := NumRegisters - 3; i < NumRegisters; i++ {
		if s.Register(i) != 1 {
			t.Fatalf("register %d = %d, want 1", i, s.Register(i))
		}
	}
}

func cache(b []byte) uint64 {
	var c uint64
	for i := 7; i >= 0; i-- {
		c = c<<8 | uint64(b[cacheOff+i])
	}
	return c
}
