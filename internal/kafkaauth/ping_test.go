package kafkaauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/testenv"
)

func TestPing(t *testing.T) {
	k := testenv.StartKafka(t, testenv.SASL("alice", "s3cret"))
	brokers := []string{k.Addr}
	scram256 := func(user, pass string) Config {
		return Config{SASLMechanism: "scram-sha-256", SASLUser: user, SASLPassword: pass}
	}

	for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		c := Config{SASLMechanism: mech, SASLUser: "alice", SASLPassword: "s3cret"}
		if err := c.Ping(context.Background(), brokers, 10*time.Second); err != nil {
			t.Errorf("%s with the right password: %v", mech, err)
		}
	}

	// Without the login check these would end at the deadline, as ErrUnreachable.
	f := func(c Config, secret string) {
		t.Helper()
		err := c.Ping(context.Background(), brokers, 30*time.Second)
		if err == nil {
			t.Fatalf("%+v: ping succeeded", c)
		}
		msg := err.Error()
		if errors.Is(err, ErrUnreachable) || !strings.Contains(msg, "SASL login") || !strings.Contains(msg, k.Addr) {
			t.Fatalf("%+v: want a SASL login error naming the broker, got %v", c, err)
		}
		if strings.Contains(msg, secret) {
			t.Fatalf("the error holds the password: %v", err)
		}
	}
	f(scram256("alice", "wrong-pass"), "wrong-pass")
	f(scram256("mallory", "s3cret"), "s3cret")
	f(Config{SASLMechanism: "plain", SASLUser: "alice", SASLPassword: "wrong-plain"}, "wrong-plain")
	f(Config{SASLMechanism: "scram-sha-512", SASLUser: "alice", SASLPassword: "wrong-512"}, "wrong-512")
}

func TestPingUnreachable(t *testing.T) {
	addr := testenv.FreeAddr(t) // nothing listens there
	err := Config{}.Ping(context.Background(), []string{addr}, time.Second)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr+" for 1s") {
		t.Fatalf("want %v naming %s and the timeout, got %v", ErrUnreachable, addr, err)
	}

	// Stopped rather than timed out: the brokers are not to blame.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Config{}.Ping(ctx, []string{addr}, time.Hour)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("cancelled: want context.Canceled, got %v", err)
	}
}

func TestPingConfig(t *testing.T) {
	f := func(c Config, timeout time.Duration) {
		t.Helper()
		if err := c.Ping(context.Background(), []string{"127.0.0.1:1"}, timeout); err == nil || errors.Is(err, ErrUnreachable) {
			t.Fatalf("Ping(%+v, %v) = %v, want a configuration error", c, timeout, err)
		}
	}
	f(Config{}, 0)
	f(Config{}, -time.Second)
	f(Config{SASLMechanism: "scram-sha-1", SASLUser: "u"}, time.Second)
}
