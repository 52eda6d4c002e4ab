package main_test

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/testenv"
)

// TestRedisFailsFast: a wrong password and an unreachable Redis each make the consumer exit non-zero
// within --timeout, with a message that names Redis and holds no password.
func TestRedisFailsFast(t *testing.T) {
	k := testenv.StartKafka(t)
	r := testenv.StartRedis(t)
	if err := redisClient(t, r.URL).ConfigSet(context.Background(), "requirepass", "s3cret-pw").Err(); err != nil {
		t.Fatal(err)
	}
	bin := testenv.Binary(t, "./cmd/consumer")
	const timeout = 3 * time.Second
	f := func(url, want string, wait bool) {
		t.Helper()
		cmd := exec.Command(bin, "--brokers", k.Addr, "--http", testenv.FreeAddr(t), "--timeout", timeout.String())
		cmd.Env = append(cmd.Environ(), "NOTESTREAM_REDIS="+url)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("%s: want a non-zero exit, got %v\n%s", want, err, out)
		}
		if !strings.Contains(string(out), want) || strings.Contains(string(out), "s3cret") || strings.Contains(string(out), "wrong-pw") {
			t.Fatalf("want a message with %q and no password, got:\n%s", want, out)
		}
		// The process's own start-up is in took; 10 s is slack for a loaded machine, not a target.
		if took > timeout+10*time.Second {
			t.Fatalf("%s: exited after %v, --timeout %v", want, took, timeout)
		}
		if !wait && took >= timeout {
			t.Fatalf("%s: a rejected login took %v: it is final, no need to wait for --timeout", want, took)
		}
		if wait && took < timeout {
			t.Fatalf("%s: gave up after %v, before --timeout %v", want, took, timeout)
		}
		t.Logf("%s: exit %d after %v", want, exit.ExitCode(), took.Round(time.Millisecond))
	}
	f("redis://:wrong-pw@"+r.Addr, "consumer: redis "+r.Addr+" rejected the login", false)
	f("redis://"+r.Addr, "consumer: redis "+r.Addr+" rejected the login", false)
	free := testenv.FreeAddr(t)
	f("redis://:s3cret-pw@"+free, "consumer: redis unreachable: redis "+free+" for 3s", true)
}

// TestReadyzFollowsDependencies: /readyz turns false within seconds of Redis, or the broker,
// stopping, and true again after it returns.
func TestReadyzFollowsDependencies(t *testing.T) {
	k := testenv.StartKafka(t)
	// Durable, so the checkpoints survive the restart.
	r := testenv.StartRedis(t, "appendonly yes", "appendfsync always")
	interactions, users := dataset(t, 100, 2000, 1, 5)
	produce(t, k, "--users", users, "--interactions", interactions)
	c := newConsumer(t, "consumer", k, r.URL, "ns:", "g")
	c.start()
	waitDone(t, c, k, redisClient(t, r.URL), "ns:", time.Minute)

	waitReady := func(what string, want int, reason string, within time.Duration) {
		t.Helper()
		start := time.Now()
		var last map[string]any
		for time.Since(start) < within {
			code, m := c.get("/readyz")
			if code == want && strings.Contains(fmtAny(m["reason"]), reason) {
				t.Logf("%s: /readyz %d after %v: %v", what, code, time.Since(start).Round(time.Millisecond), m)
				return
			}
			last = m
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: /readyz not %d (reason with %q) within %v; last %v", what, want, reason, within, last)
	}
	r.Stop()
	waitReady("redis stopped", http.StatusServiceUnavailable, "redis", 10*time.Second)
	r.Start()
	waitReady("redis back", http.StatusOK, "", 30*time.Second)
	k.Stop()
	waitReady("broker stopped", http.StatusServiceUnavailable, "brokers", 10*time.Second)
	k.Start()
	waitReady("broker back", http.StatusOK, "", time.Minute)
}

func fmtAny(v any) string {
	s, _ := v.(string)
	return s
}
