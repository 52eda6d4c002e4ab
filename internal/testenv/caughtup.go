package testenv

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/event"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
)

// RedisServer is a Redis or a RedisCluster.
type RedisServer interface {
	Client(t testing.TB) redis.UniversalClient
}

// WaitCaughtUp waits until the consumer behind api answers /readyz and every partition's checkpoint
// in Redis (key prefix ns:, the consumer's default) is at the interactions topic's end offset, which is
// final once the producer has returned. /readyz alone could answer from a listing of end offsets older
// than the producer's last records.
func WaitCaughtUp(t testing.TB, k *Kafka, r RedisServer, api string, timeout time.Duration) {
	t.Helper()
	rdb := r.Client(t)
	adm := kadm.NewClient(k.Client(t))
	ctx := context.Background()
	var why any
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(api + "/readyz")
		if err != nil {
			why = fmt.Sprint("/readyz: ", err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			why = "/readyz: " + resp.Status
			continue
		}
		ends, err := adm.ListEndOffsets(ctx, event.TopicInteractions)
		if err != nil {
			why = err
			continue
		}
		behind := 0
		ends.Each(func(o kadm.ListedOffset) {
			key := fmt.Sprintf("ns:{interactions/%d}:ck", o.Partition)
			if v, err := rdb.HGet(ctx, key, "offset").Int64(); err != nil || v != o.Offset {
				why = fmt.Sprintf("%s offset %d (%v), end %d", key, v, err, o.Offset)
				behind++
			}
		})
		if behind == 0 {
			return
		}
	}
	t.Fatalf("consumer not caught up within %v: %v", timeout, why)
}
