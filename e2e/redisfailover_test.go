package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/testenv"
)

// TestRedisFailover checks that a Redis Cluster failover that loses acknowledged checkpoints changes
// nothing in the answers. Mid-replay, the master of partition 0's checkpoint goes on acknowledging
// checkpoints that its replica never gets (the replica frozen with SIGSTOP and its link dropped:
// frozen alone, it would still find them in its socket buffer), then is killed with SIGKILL; the
// thawed replica takes over with older checkpoints. The consumer must detect that at its next
// checkpoints (their fencing), rewind those partitions and replay them from Kafka by itself, without
// exiting, and at the end every answer must equal gold's as a clean run's does.
func TestRedisFailover(t *testing.T) {
	p := newPipeline(t, 300, testenv.Kfake())
	rc := testenv.StartRedisCluster(t)
	p.redis, p.redisURL = rc, rc.URL
	c := p.startConsumer(t)
	// About 16 s of replay: a year at 2,000,000 times real time.
	producer := start(t, p.producer, p.producerArgs("2000000")...)

	const ck = "ns:{interactions/0}:ck"
	master := rc.Master(t, ck)
	replica := rc.Replica(t, master)
	fromMaster := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer fromMaster.Close()
	offset := func(rdb *redis.Client) int64 {
		t.Helper()
		n, err := rdb.HGet(context.Background(), ck, "offset").Int64()
		if errors.Is(err, redis.Nil) {
			return -1
		}
		if err != nil {
			t.Fatalf("%s offset: %v", ck, err)
		}
		return n
	}
	waitFor := func(what string, timeout time.Duration, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(timeout); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not within %v: %s", timeout, what)
			}
		}
	}
	// A first checkpoint of partition 0 on both nodes, so the replica holds the consumer's own.
	waitFor("a first checkpoint of partition 0", 30*time.Second, func() bool { return offset(fromMaster) > 0 })

	replica.Freeze()
	master.DropReplicaLinks(t)
	cut := offset(fromMaster)
	waitFor("a checkpoint of partition 0 after the replica's link was dropped", 10*time.Second,
		func() bool { return offset(fromMaster) > cut })
	acked := offset(fromMaster)
	select {
	case <-producer.done:
		t.Fatal("the replay ended before the failover: nothing was in flight")
	default:
	}
	master.Stop()
	replica.Thaw()

	// Read what the replica holds once it has applied all it got, before it is promoted: from then on
	// the consumer writes to it.
	fromReplica := redis.NewClient(&redis.Options{Addr: replica.Addr,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error { return cn.ReadOnly(ctx).Err() }})
	defer fromReplica.Close()
	waitFor("the replica noticing its master's death", 10*time.Second, func() bool {
		info := fromReplica.Info(context.Background(), "replication").Val()
		if strings.Contains(info, "role:master") {
			t.Fatal("the replica was promoted before its checkpoint could be read")
		}
		return strings.Contains(info, "master_link_status:down")
	})
	held := offset(fromReplica)
	if held >= acked {
		t.Fatalf("the replica holds partition 0's checkpoint at %d, the master had acknowledged %d: no write was lost", held, acked)
	}
	t.Logf("killed master %s: it had acknowledged partition 0 up to offset %d; its replica %s holds %d", master.Addr, acked, replica.Addr, held)
	rc.WaitHealthy(t, 30*time.Second)
	if now := rc.Master(t, ck); now != replica {
		t.Fatalf("%s serves partition 0 after the failover, want the replica %s", now.Addr, replica.Addr)
	}

	exited := func() {
		t.Helper()
		select {
		case <-c.proc.done:
			t.Fatalf("the consumer exited: %v", c.proc.err)
		default:
		}
	}
	if err := producer.wait(60 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	exited()
	p.waitReplayed(t, c.api, 120*time.Second)
	exited()
	n := gauge(c.api, "notestream_consumer_checkpoint_rewinds_total")
	if n < 1 {
		t.Errorf("notestream_consumer_checkpoint_rewinds_total = %v, want at least partition 0's rewind", n)
	}
	t.Logf("the consumer rewound %v partitions and caught up", n)
	p.compareWithGold(t, c.api)
}
