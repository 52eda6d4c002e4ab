package hll

// seed is the MurmurHash64A seed Redis uses for HyperLogLog elements.
const seed = 0xadc83b19

// Hash is MurmurHash64A with Redis's HyperLogLog seed, the hash PFADD applies to an element.
func Hash[T string | []byte](data T) uint64 {
	const (
		m = 0xc6a4a7935bd1e995
		r = 47
	)
	n := len(data)
	h := seed ^ uint64(n)*m

	for len(data) >= 8 {
		k := uint64(data[0]) | uint64(data[1])<<8 | uint64(data[2])<<16 | uint64(data[3])<<24 |
			uint64(data[4])<<32 | uint64(data[5])<<40 | uint64(data[6])<<48 | uint64(data[7])<<56
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
		data = data[8:]
	}

	switch len(data) {
	case 7:
		h ^= uint64(data[6]) << 48
		fallthrough
	case 6:
		h ^= uint64(data[5]) << 40
		fallthrough
	case 5:
		h ^= uint64(data[4]) << 32
		fallthrough
	case 4:
		h ^= uint64(data[3]) << 24
		fallthrough
	case 3:
		h ^= uint64(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint64(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint64(data[0])
		h *= m
	}

	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}
