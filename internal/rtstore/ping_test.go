package rtstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/notestream/notestream/internal/testenv"
)

func TestPing(t *testing.T) {
	srv := testenv.StartRedis(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	if err := admin.ConfigSet(context.Background(), "requirepass", "s3cret-pw").Err(); err != nil {
		t.Fatal(err)
	}
	f := func(url string, wantErr string, unreachable bool) {
		t.Helper()
		rdb, err := Dial(url)
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		s, err := New(rdb, Config{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = s.Ping(context.Background(), 2*time.Second)
		took := time.Since(start)
		if wantErr == "" {
			if err != nil {
				t.Fatalf("%s: %v", url, err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), wantErr) || errors.Is(err, ErrUnreachable) != unreachable {
			t.Fatalf("%s: got %v, want an error with %q (unreachable %v)", url, err, wantErr, unreachable)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong-pw") {
			t.Fatalf("the error holds a password: %v", err)
		}
		if unreachable && took < 2*time.Second {
			t.Fatalf("gave up after %v, before the timeout", took)
		}
		if !unreachable && took > time.Second {
			t.Fatalf("a rejected login took %v: it is final", took)
		}
	}
	f("redis://:s3cret-pw@"+srv.Addr, "", false)
	f("redis://:wrong-pw@"+srv.Addr, "redis "+srv.Addr+" rejected the login", false)
	f("redis://"+srv.Addr, "redis "+srv.Addr+" rejected the login", false) // no password: NOAUTH
	free := testenv.FreeAddr(t)
	f("redis://:s3cret-pw@"+free, "redis unreachable: redis "+free+" for 2s", true)

	// Stopped rather than timed out: Redis is not to blame.
	rdb := redis.NewClient(&redis.Options{Addr: free})
	defer rdb.Close()
	s, _ := New(rdb, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Ping(ctx, time.Hour); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("cancelled: want context.Canceled, got %v", err)
	}
}
