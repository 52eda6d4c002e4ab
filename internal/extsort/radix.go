package extsort

const (
	radixBits   = 11 // 2,048 counters per digit: they stay in the L1 cache
	radixDigits = (64 + radixBits - 1) / radixBits
	radixMask   = 1<<radixBits - 1
)

// radixSort sorts keys by time, stably, so equal times keep their order (that of their offsets);
// tmp has keys' length. It sorts by time minus the minimum, digit by digit from the least significant,
// skipping digits every key shares: a year of milliseconds takes four passes.
func radixSort(keys, tmp []key) {
	if len(keys) < 2 {
		return
	}
	lo := keys[0].time
	for _, k := range keys {
		lo = min(lo, k.time)
	}
	var counts [radixDigits][1 << radixBits]int
	for _, k := range keys {
		v := uint64(k.time - lo)
		for d := range radixDigits {
			counts[d][v&radixMask]++
			v >>= radixBits
		}
	}
	src, dst := keys, tmp
	for d := range radixDigits {
		c := &counts[d]
		if c[uint64(src[0].time-lo)>>(d*radixBits)&radixMask] == len(src) {
			continue // every key has this digit
		}
		sum := 0
		for i, n := range c {
			c[i] = sum
			sum += n
		}
		shift := d * radixBits
		for _, k := range src {
			b := uint64(k.time-lo) >> shift & radixMask
			dst[c[b]] = k
			c[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}
