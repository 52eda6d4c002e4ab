package testenv

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestRedisHyperLogLog(t *testing.T) {
	r := StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	ctx := context.Background()

	// The vector from FIELD-NOTES: user:0 … user:9999 counts as 10089 in redis-server 7.
	els := make([]any, 10000)
	for i := range els {
		els[i] = fmt.Sprintf("user:%d", i)
	}
	if err := c.PFAdd(ctx, "dau", els...).Err(); err != nil {
		t.Fatalf("PFADD: %v", err)
	}
	n, err := c.PFCount(ctx, "dau").Result()
	if err != nil {
		t.Fatalf("PFCOUNT: %v", err)
	}
	if n != 10089 {
		t.Errorf("PFCOUNT = %d, want 10089", n)
	}
}

func TestRedisRestart(t *testing.T) {
	// With an fsync per write, a SIGKILL loses nothing acknowledged.
	r := StartRedis(t, "appendonly yes", "appendfsync always")
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	if err := c.PFAdd(ctx, "k", "a", "b", "c").Err(); err != nil {
		t.Fatalf("PFADD: %v", err)
	}
	r.Stop()
	if r.ping(ctx) == nil {
		t.Fatal("PING answered after Stop")
	}
	r.Start()
	n, err := c.PFCount(ctx, "k").Result()
	if err != nil || n != 3 {
		t.Fatalf("PFCOUNT after restart = %d, %v; want 3", n, err)
	}
}
