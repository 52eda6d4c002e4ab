package main_test

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/reference"
	"github.com/notestream/notestream/internal/testenv"
)

// startFailing runs a consumer that must exit on its own; the deadline only keeps a hang from
// blocking the test run, and a kill by it fails the test.
func startFailing(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t, "./cmd/consumer"), append(args, "--http", testenv.FreeAddr(t))...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &exit) || exit.ExitCode() <= 0 {
		t.Fatalf("want a non-zero exit of its own, got %v (deadline: %v):\n%s", err, ctx.Err(), out)
	}
	return string(out)
}

// TestSASL runs the consumer against a broker that requires SCRAM-SHA-256: with the right password
// it counts what the producer wrote; with a wrong one it stops at once with the cause.
func TestSASL(t *testing.T) {
	k := testenv.StartKafka(t, testenv.SASL("alice", "s3cret"))
	r := testenv.StartRedis(t)
	interactions, users := dataset(t, 200, 3000, 2, 11)
	produce(t, k, "--users", users, "--interactions", interactions,
		"--sasl-mechanism", "scram-sha-256", "--sasl-user", k.User, "--sasl-password", k.Password)

	t.Run("right password", func(t *testing.T) {
		want, err := reference.ComputeFiles(interactions, users, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		c := newConsumer(t, "consumer", k, r.URL, "ns:", "g")
		c.env = testenv.SASLEnv(k.User, k.Password)
		c.start()
		waitDone(t, c, k, redisClient(t, r.URL), "ns:", time.Minute)
		for _, date := range []string{"2023-07-01", "2023-07-02"} {
			// HyperLogLog: a user or two off at most for so few.
			_, dau := c.get("/v1/dau?date=" + date)
			if got, exact := dau["dau"].(float64), want.Active(date, date, reference.Segment{}); exact == 0 || math.Abs(got-float64(exact)) > 1 {
				t.Errorf("%s: dau = %v, want %d", date, got, exact)
			}
			_, s := c.get("/v1/sessions?date=" + date)
			if got, exact := s["sessions"].(float64), want.Days[date].Sessions.Count; got != float64(exact) {
				t.Errorf("%s: sessions = %v, want %d", date, got, exact)
			}
		}
		if log, _ := os.ReadFile(c.log); strings.Contains(string(log), k.Password) {
			t.Errorf("the SASL password is in the log:\n%s", log)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		// A timeout the test never reaches: only the login check can end the consumer this soon.
		out := startFailing(t, testenv.SASLEnv(k.User, "wrong-pass"), "--brokers", k.Addr, "--redis", r.URL, "--timeout", "10m")
		if !strings.Contains(out, "SASL login") || !strings.Contains(out, "--sasl-user") || strings.Contains(out, "unreachable") {
			t.Errorf("want the SASL login named as the cause, got:\n%s", out)
		}
		if strings.Contains(out, "wrong-pass") {
			t.Errorf("the password is in the output:\n%s", out)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		addr := testenv.FreeAddr(t) // nothing listens there
		out := startFailing(t, testenv.SASLEnv(k.User, k.Password), "--brokers", addr, "--redis", r.URL, "--timeout", "1s")
		if !strings.Contains(out, "brokers unreachable: "+addr+" for 1s") {
			t.Errorf("want the brokers named unreachable, got:\n%s", out)
		}
	})
}
