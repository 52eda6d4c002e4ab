package producer

import (
	"math/bits"
	"unsafe"
)

// keyPartitioner picks the partition Kafka's default partitioner chooses for a non-empty key (Java's,
// and franz-go's StickyKeyPartitioner with its default hasher): the key's murmur2 hash made positive,
// modulo the partition count. Called directly, it costs a fifth of going through kgo's partitioner
// for every row; the modulo is Lemire's multiply-only fastmod, exact for 32-bit operands.
type keyPartitioner struct {
	n uint64
	m uint64 // 2⁶⁴ / n, rounded up
}

func newKeyPartitioner(n int32) keyPartitioner {
	return keyPartitioner{n: uint64(n), m: ^uint64(0)/uint64(n) + 1}
}

func (k keyPartitioner) partition(key string) int32 {
	hi, _ := bits.Mul64(k.m*uint64(murmur2(key)&0x7fffffff), k.n)
	return int32(hi)
}

// murmur2 is Kafka's 32-bit murmur2 (org.apache.kafka.common.utils.Utils.murmur2).
func murmur2(b string) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
	)
	h := seed ^ uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> 24
		k *= m
		h = h*m ^ k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	return h ^ h>>15
}

// bytesOf is s's bytes without a copy, for a record key the writer only reads.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
