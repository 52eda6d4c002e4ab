package hll

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/testenv"
)

// These tests compare the sketch with a real redis-server, the definition of compatible.

func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	srv := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// elements returns n distinct random byte strings of 4 to 40 bytes, covering every MurmurHash tail.
func elements(r *rand.Rand, n int) [][]byte {
	els := make([][]byte, n)
	for i := range els {
		e := make([]byte, 8, 8+r.IntN(33))
		// A unique prefix keeps the elements distinct; random bytes after it vary the hash input.
		e[0], e[1], e[2], e[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		e = e[:4+r.IntN(cap(e)-3)]
		for j := 4; j < len(e); j++ {
			e[j] = byte(r.Uint32())
		}
		els[i] = e
	}
	return els
}

// pfadd adds els to key in Redis, a thousand per command, and to s.
func pfadd(t *testing.T, c *redis.Client, key string, s *Sketch, els [][]byte) {
	t.Helper()
	ctx := context.Background()
	pipe := c.Pipeline()
	pipe.PFAdd(ctx, key) // creates the key even for no elements
	for len(els) > 0 {
		n := min(len(els), 1000)
		args := make([]any, n)
		for i, e := range els[:n] {
			args[i] = e
			s.Add(e)
		}
		pipe.PFAdd(ctx, key, args...)
		els = els[n:]
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("PFADD %s: %v", key, err)
	}
}

func get(t *testing.T, c *redis.Client, key string) []byte {
	t.Helper()
	b, err := c.Get(context.Background(), key).Bytes()
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return b
}

func pfcount(t *testing.T, c *redis.Client, keys ...string) uint64 {
	t.Helper()
	n, err := c.PFCount(context.Background(), keys...).Uint64()
	if err != nil {
		t.Fatalf("PFCOUNT %v: %v", keys, err)
	}
	return n
}

// checkRegisters compares s with PFDEBUG GETREG, which also turns the key dense.
func checkRegisters(t *testing.T, c *redis.Client, key string, s *Sketch) {
	t.Helper()
	regs, err := c.Do(context.Background(), "PFDEBUG", "GETREG", key).Int64Slice()
	if err != nil {
		t.Fatalf("PFDEBUG GETREG %s: %v", key, err)
	}
	if len(regs) != NumRegisters {
		t.Fatalf("PFDEBUG GETREG %s: %d registers", key, len(regs))
	}
	for i, r := range regs {
		if int64(s.Register(i)) != r {
			t.Fatalf("%s: register %d is %d in Go, %d in Redis", key, i, s.Register(i), r)
		}
	}
}

func set(t *testing.T, c *redis.Client, key string, b []byte) {
	t.Helper()
	if err := c.Set(context.Background(), key, b, 0).Err(); err != nil {
		t.Fatalf("SET %s: %v", key, err)
	}
}

func markStale(b []byte) []byte {
	b = bytes.Clone(b)
	b[cacheOff+7] |= 0x80
	return b
}

var sizes = []int{0, 1, 2, 3, 10, 100, 300, 700, 1000, 1500, 2000, 3000, 5000, 10000, 20000, 50000, 100000, 200000}

// TestRedisBuilt: sketches built by PFADD decode in Go to the same registers and count.
func TestRedisBuilt(t *testing.T) {
	c := startRedis(t)
	r := rand.New(rand.NewPCG(5, 6))
	var sawSparse, sawDense bool
	for _, n := range sizes {
		key := fmt.Sprintf("redis:%d", n)
		want := New()
		pfadd(t, c, key, want, elements(r, n))

		raw := get(t, c, key)
		sawSparse = sawSparse || raw[4] == encodingSparse
		sawDense = sawDense || raw[4] == encodingDense
		got, err := Decode(raw)
		if err != nil {
			t.Fatalf("n=%d: Decode(GET): %v", n, err)
		}
		if *got != *want {
			t.Fatalf("n=%d: Decode(GET) registers differ from the Go sketch of the same elements", n)
		}
		if gc, rc := got.Count(), pfcount(t, c, key); gc != rc {
			t.Fatalf("n=%d: Count %d, PFCOUNT %d", n, gc, rc)
		}
		checkRegisters(t, c, key, got)

		// After PFCOUNT (cache written) and GETREG (now dense), Redis's bytes are Go's dense export.
		if err := c.Do(context.Background(), "PFDEBUG", "TODENSE", key).Err(); err != nil {
			t.Fatalf("PFDEBUG TODENSE: %v", err)
		}
		pfcount(t, c, key)
		if dense := get(t, c, key); !bytes.Equal(dense, got.AppendDense(nil)) {
			t.Fatalf("n=%d: AppendDense differs from Redis's dense string", n)
		}
	}
	if !sawSparse || !sawDense {
		t.Fatalf("sizes did not cross the sparse-to-dense switch: sparse %v, dense %v", sawSparse, sawDense)
	}
}

// TestShortElements: every element of one and two bytes, and random ones of three (elements
// covers four and more).
func TestShortElements(t *testing.T) {
	c := startRedis(t)
	r := rand.New(rand.NewPCG(13, 14))
	var one, two, three [][]byte
	for i := range 1 << 16 {
		if i < 1<<8 {
			one = append(one, []byte{byte(i)})
		}
		two = append(two, []byte{byte(i), byte(i >> 8)})
		three = append(three, []byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
	}
	for name, els := range map[string][][]byte{"one": one, "two": two, "three": three} {
		want := New()
		pfadd(t, c, name, want, els)
		got, err := Decode(get(t, c, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if *got != *want {
			t.Fatalf("%s-byte elements: registers differ from Redis's", name)
		}
	}
}

// TestGoBuilt: sketches built in Go and SET into Redis read back the same, through either encoding,
// and Redis's PFADD keeps working on them.
func TestGoBuilt(t *testing.T) {
	c := startRedis(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range sizes {
		s := New()
		for _, e := range elements(r, n) {
			s.Add(e)
		}
		for _, enc := range []struct {
			name string
			b    []byte
		}{{"redis", s.AppendRedis(nil)}, {"dense", s.AppendDense(nil)}} {
			key := fmt.Sprintf("go:%s:%d", enc.name, n)
			// With a valid cache Redis answers from it; stale, it recomputes from our registers.
			set(t, c, key, enc.b)
			if got := pfcount(t, c, key); got != s.Count() {
				t.Fatalf("n=%d %s: PFCOUNT %d, Count %d", n, enc.name, got, s.Count())
			}
			set(t, c, key, markStale(enc.b))
			if got := pfcount(t, c, key); got != s.Count() {
				t.Fatalf("n=%d %s stale: PFCOUNT %d, Count %d", n, enc.name, got, s.Count())
			}
			set(t, c, key, markStale(enc.b))
			extra := elements(r, 50)
			more := *s
			pfadd(t, c, key, &more, extra)
			if got := pfcount(t, c, key); got != more.Count() {
				t.Fatalf("n=%d %s: PFCOUNT after PFADD %d, Count %d", n, enc.name, got, more.Count())
			}
			checkRegisters(t, c, key, &more)
		}
		if err := c.Del(ctx, fmt.Sprintf("go:redis:%d", n), fmt.Sprintf("go:dense:%d", n)).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMergeWithRedis: PFMERGE and multi-key PFCOUNT of a Go-built and a Redis-built key equal Go's
// Merge.
func TestMergeWithRedis(t *testing.T) {
	c := startRedis(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 10))
	pairs := [][2]int{{0, 0}, {1, 0}, {0, 1}, {100, 200}, {2000, 50}, {50000, 1000}, {3000, 100000}, {200000, 200000}}
	for _, p := range pairs {
		rs := New()
		rels := elements(r, p[0])
		pfadd(t, c, "m:redis", rs, rels)
		gs := New()
		// Overlap the two sets: the Go sketch also holds half of Redis's elements.
		for _, e := range append(elements(r, p[1]), rels[:p[0]/2]...) {
			gs.Add(e)
		}
		set(t, c, "m:go", gs.AppendRedis(nil))

		want := New()
		want.Merge(rs)
		want.Merge(gs)
		if got := pfcount(t, c, "m:redis", "m:go"); got != want.Count() {
			t.Fatalf("%v: multi-key PFCOUNT %d, Merge then Count %d", p, got, want.Count())
		}
		if err := c.PFMerge(ctx, "m:dst", "m:redis", "m:go").Err(); err != nil {
			t.Fatalf("PFMERGE: %v", err)
		}
		got, err := Decode(get(t, c, "m:dst"))
		if err != nil {
			t.Fatalf("%v: Decode(PFMERGE): %v", p, err)
		}
		if *got != *want {
			t.Fatalf("%v: PFMERGE registers differ from Go's Merge", p)
		}
		if n := pfcount(t, c, "m:dst"); n != want.Count() {
			t.Fatalf("%v: PFCOUNT of PFMERGE %d, Count %d", p, n, want.Count())
		}
		if err := c.Del(ctx, "m:redis", "m:go", "m:dst").Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCraftedRegisters: Count equals PFCOUNT for register values hashing never gives in practice:
// runs of 51 (the sentinel, where tau matters), up to 63, and near-empty or near-full sketches.
func TestCraftedRegisters(t *testing.T) {
	c := startRedis(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(11, 12))
	const n = 1000
	want := make([]uint64, n)
	enc := make([][]byte, n)
	counts := make([]*redis.IntCmd, n)
	gets := make([]*redis.StringCmd, n)
	pipe := c.Pipeline()
	for i := range n {
		// Non-zero registers take values in [lo, hi]; some are at exactly q+1, whose share only
		// weighs in the estimate (through tau) when every other register is high too.
		var s Sketch
		hi := 1 + r.IntN(63)
		lo := 1 + r.IntN(hi)
		fill := r.Float64()
		if i%2 == 0 { // saturated: no zero register, every register high
			hi = 40 + r.IntN(24)
			lo = 40 + r.IntN(hi-39)
			fill = 1
		}
		sentinel := r.Float64() * r.Float64()
		for j := range NumRegisters {
			switch {
			case r.Float64() >= fill:
			case r.Float64() < sentinel:
				s.regs[j] = q + 1
			default:
				s.regs[j] = uint8(lo + r.IntN(hi-lo+1))
			}
		}
		want[i] = s.Count()
		enc[i] = s.AppendRedis(nil)
		key := fmt.Sprintf("crafted:%d", i)
		pipe.Set(ctx, key, markStale(enc[i]), 0)
		counts[i] = pipe.PFCount(ctx, key)
		// PFCOUNT writes its cache in place, which must make Redis's string ours again.
		gets[i] = pipe.Get(ctx, key)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("SET, PFCOUNT, GET: %v", err)
	}
	for i := range n {
		if got := uint64(counts[i].Val()); got != want[i] {
			t.Fatalf("sketch %d: PFCOUNT %d, Count %d", i, got, want[i])
		}
		if got, _ := gets[i].Bytes(); !bytes.Equal(got, enc[i]) {
			t.Fatalf("sketch %d: Redis's string after PFCOUNT differs from AppendRedis", i)
		}
	}
}
