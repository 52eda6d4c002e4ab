package producer

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKeyPartitionerMatchesKgo checks keyPartitioner against franz-go's default key partitioner, the one
// Java's clients agree with, on keys of every length up to 40 and of any bytes.
func TestKeyPartitionerMatchesKgo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := range 100_000 {
		key := make([]byte, 1+i%40)
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		for _, n := range []int32{1, 3, 7, 8, 16, 1000, 1<<31 - 1} {
			if got, want := newKeyPartitioner(n).partition(string(key)), int32(want.Partition(&kgo.Record{Key: key}, int(n))); got != want {
				t.Fatalf("key %x, %d partitions: got %d, kgo %d", key, n, got, want)
			}
		}
	}
}
