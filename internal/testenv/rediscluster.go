package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of three masters, each with one replica: six redis-server
// processes, each on its own free loopback port and temp dir, joined by redis-cli --cluster create.
type RedisCluster struct {
	Nodes []*Redis // the six servers; which of them are masters changes with failovers
	URL   string   // the consumer's --redis for it: redis+cluster://first?addr=second&addr=…
}

// clusterNodeTimeout is how long the cluster waits for a silent master before its replica takes
// over; short, so failover tests take seconds.
const clusterNodeTimeout = "cluster-node-timeout 2000"

// StartRedisCluster starts the six servers, with any extra config lines for each, creates the cluster
// and waits until every slot is served and every replica is in sync; t.Cleanup stops them by PID.
func StartRedisCluster(t testing.TB, config ...string) *RedisCluster {
	t.Helper()
	// No delay before a replica's first sync: the cluster is healthy once every replica has synced.
	conf := append([]string{"cluster-enabled yes", "cluster-config-file nodes.conf", clusterNodeTimeout,
		"repl-diskless-sync-delay 0"}, config...)
	c := &RedisCluster{Nodes: make([]*Redis, 6)}
	addrs := make([]string, len(c.Nodes))
	for i := range c.Nodes {
		c.Nodes[i] = StartRedis(t, conf...)
		addrs[i] = c.Nodes[i].Addr
	}
	c.URL = "redis+cluster://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")

	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(tool(t, "redis-cli"), args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(t, readyTimeout)
	return c
}

// Client returns a cluster client of c, closed by t.Cleanup.
func (c *RedisCluster) Client(t testing.TB) redis.UniversalClient {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	// go-redis reloads the slot map on MOVED, but a dead master answers nothing: without a short
	// interval it would keep sending to it for the default minute.
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ClusterStateReloadInterval: time.Second})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Master returns the node that serves key's slot now, as the first live node sees it.
func (c *RedisCluster) Master(t testing.TB, key string) *Redis {
	t.Helper()
	ctx := context.Background()
	for _, n := range c.Nodes {
		if !n.running() {
			continue
		}
		rdb := redis.NewClient(&redis.Options{Addr: n.Addr})
		slot, err := rdb.ClusterKeySlot(ctx, key).Result()
		var slots []redis.ClusterSlot
		if err == nil {
			slots, err = rdb.ClusterSlots(ctx).Result()
		}
		rdb.Close()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
				for _, m := range c.Nodes {
					if m.Addr == s.Nodes[0].Addr {
						return m
					}
				}
			}
		}
	}
	t.Fatalf("testenv: no live node knows the master of %q", key)
	return nil
}

// Replica returns the replica of master, as master sees it.
func (c *RedisCluster) Replica(t testing.TB, master *Redis) *Redis {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer rdb.Close()
	info, err := rdb.Info(context.Background(), "replication").Result()
	if err != nil {
		t.Fatalf("testenv: INFO replication of %s: %v", master.Addr, err)
	}
	// slave0:ip=127.0.0.1,port=6380,state=online,offset=…,lag=0
	for _, line := range strings.Fields(info) {
		if !strings.HasPrefix(line, "slave0:") {
			continue
		}
		for _, n := range c.Nodes {
			if strings.Contains(line, ",port="+strings.TrimPrefix(n.Addr, "127.0.0.1:")+",") {
				return n
			}
		}
	}
	t.Fatalf("testenv: %s has no replica among the cluster's nodes:\n%s", master.Addr, info)
	return nil
}

// WaitReplicated waits until the replica of key's master has applied every write the master had
// when called. (A cluster client's WAIT goes to any node, and WAIT counts only its own connection's
// writes, so it cannot say this.)
func (c *RedisCluster) WaitReplicated(t testing.TB, key string) {
	t.Helper()
	ctx := context.Background()
	master := c.Master(t, key)
	replica := c.Replica(t, master)
	offset := func(node *Redis, field string) int64 {
		rdb := redis.NewClient(&redis.Options{Addr: node.Addr})
		defer rdb.Close()
		info, err := rdb.Info(ctx, "replication").Result()
		if err != nil {
			t.Fatalf("testenv: INFO replication of %s: %v", node.Addr, err)
		}
		for _, line := range strings.Fields(info) {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("testenv: %s %s: %q", node.Addr, field, v)
				}
				return n
			}
		}
		return -1
	}
	want := offset(master, "master_repl_offset")
	for deadline := time.Now().Add(readyTimeout); offset(replica, "slave_repl_offset") < want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: replica %s did not reach its master's offset %d within %v", replica.Addr, want, readyTimeout)
		}
	}
}

// WaitHealthy waits until every running node (not stopped, not frozen) says the cluster is ok with
// all slots served and every such replica's link to its master is up, so a write acknowledged from
// now on reaches a replica unless its master dies within the replication delay.
func (c *RedisCluster) WaitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	var why string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		why = ""
		for _, n := range c.Nodes {
			if !n.running() {
				continue
			}
			if why = nodeHealth(ctx, n.Addr); why != "" {
				break
			}
		}
		if why == "" {
			return
		}
	}
	t.Fatalf("testenv: redis cluster not healthy within %v: %s", timeout, why)
}

// nodeHealth is "" when the node at addr sees a healthy cluster, else what is wrong.
func nodeHealth(ctx context.Context, addr string) string {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	info, err := rdb.ClusterInfo(ctx).Result()
	if err != nil {
		return fmt.Sprintf("%s: CLUSTER INFO: %v", addr, err)
	}
	if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
		return fmt.Sprintf("%s: %s", addr, strings.Join(strings.Fields(info)[:4], " "))
	}
	repl, err := rdb.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Sprintf("%s: INFO replication: %v", addr, err)
	}
	if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
		return addr + ": replica not in sync with its master"
	}
	return ""
}
