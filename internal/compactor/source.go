package compactor

import "context"

// Record is one record of a topic partition.
type Record struct {
	Partition int32
	Offset    int64
	Value     []byte
	Control   string // the record.ControlHeader value; "" for data records
}

// Source reads the topics. internal/compactor/kafkasource is the real one; tests may use their own.
type Source interface {
	// Offsets returns every partition's log start and end offsets.
	Offsets(ctx context.Context, topic string) (starts, ends map[int32]int64, err error)
	// Read calls fn for every record in [from[p], to[p]) of each partition p, in offset order within
	// a partition. fn must not keep the record or its Value after it returns.
	Read(ctx context.Context, topic string, from, to map[int32]int64, fn func(*Record) error) error
}
