package compactor

import (
	"runtime"
)

// The memory model. Work that needs a whole day (sessions, distinct users, percentiles) is done per
// user: a day's rows can be split by user_id into buckets that never meet until the day's sums add
// them. A day whose bronze rows (counted in the objects' footers) fit its share of the budget is
// built in memory in one bucket; a larger one is built bucket by bucket through spill files
// (buildBuckets), so its peak is set by the budget, not by its size.
const (
	// DefaultMemory is Config.Memory's default (see BENCHMARKS.md, issue 18).
	DefaultMemory = 1 << 30
	// MinMemory is the smallest budget: the fixed costs below and a useful day share.
	MinMemory = 256 << 20
	// dayRowBytes is the memory a bronze row takes while its day (or bucket) is built in memory:
	// the row, the merge's copy of it, its silver row and its share of the sessions and strings.
	dayRowBytes = 600
	// fixedMemory is what the process holds besides the days' rows and the heap that rebuild
	// starts with (users): the Go runtime, Parquet writers' row groups, readers' buffers.
	fixedMemory = 160 << 20
	// minDayMemory bounds the bucket count of a budget left small by a large heap.
	minDayMemory = 32 << 20
	// maxBuckets bounds the spill files open at once, each a row file writer holding about 120 KiB
	// (its block raw and compressed).
	maxBuckets = 1024
)

// shareOfMemory is the memory of one of the Parallel days built at a time: the budget less the live
// heap (users' metadata above all) and fixed costs, shared.
func (c *Compactor) shareOfMemory() int64 {
	runtime.GC() // what the bronze phase left is garbage
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	free := c.cfg.Memory - int64(ms.HeapAlloc) - fixedMemory
	return max(minDayMemory, free/int64(c.cfg.Parallel))
}

// bucketsOf is how many buckets of users a day of rows bronze rows is built in: one when it fits
// dayMemory, or as many as keep each bucket within it.
func (c *Compactor) bucketsOf(rows int64) int {
	if c.buckets > 0 {
		return c.buckets
	}
	need := rows * dayRowBytes
	return int(min(maxBuckets, max(1, (need+c.dayMemory-1)/c.dayMemory)))
}
