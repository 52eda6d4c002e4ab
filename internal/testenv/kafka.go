package testenv

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Kafka is a kfake broker process (cmd/broker) with a data directory, on a free loopback port.
type Kafka struct {
	Addr    string // host:port
	DataDir string
	// User and Password are the SASL credentials given in the broker flags, empty without SASL.
	User, Password string

	p *proc
}

// SASLEnv is a SCRAM-SHA-256 login as the commands take it from the environment, as in production.
func SASLEnv(user, password string) []string {
	return []string{"NOTESTREAM_SASL_MECHANISM=scram-sha-256", "NOTESTREAM_SASL_USER=" + user, "NOTESTREAM_SASL_PASSWORD=" + password}
}

// StartKafka starts the broker with extra cmd/broker flags (SASL users, partitions); t.Cleanup stops it by PID.
func StartKafka(t testing.TB, brokerArgs ...string) *Kafka {
	t.Helper()
	bin := Binary(t, "./cmd/broker")
	dir := t.TempDir()
	k := &Kafka{
		DataDir:  filepath.Join(dir, "data"),
		User:     flagValue(brokerArgs, "sasl-user"),
		Password: flagValue(brokerArgs, "sasl-password"),
	}
	k.p = newProc(t, "broker", bin, nil, nil, dir, k.ping)
	k.p.startFresh(func() {
		k.Addr = loopback(freePort(t))
		k.p.args = append([]string{"--listen", k.Addr, "--data-dir", k.DataDir}, brokerArgs...)
	})
	return k
}

// flagValue returns the value of flag name in args ("--name v", "-name v", "--name=v"), the last wins.
func flagValue(args []string, name string) string {
	var v string
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name && i+1 < len(args) {
			v = args[i+1]
		} else if after, ok := strings.CutPrefix(a, name+"="); ok {
			v = after
		}
	}
	return v
}

// ping succeeds once the broker answers a metadata request, which it does after loading its data dir.
func (k *Kafka) ping(ctx context.Context) error {
	c, err := kgo.NewClient(k.opts()...)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Ping(ctx)
}

// opts returns client options for the broker: its address, and SCRAM-SHA-256 when it has a user.
func (k *Kafka) opts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(k.Addr)}
	if k.User != "" {
		opts = append(opts, kgo.SASL(scram.Auth{User: k.User, Pass: k.Password}.AsSha256Mechanism()))
	}
	return opts
}

// Client returns a franz-go client for the broker with opts added; t.Cleanup closes it.
func (k *Kafka) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	c, err := kgo.NewClient(append(k.opts(), opts...)...)
	if err != nil {
		t.Fatalf("testenv: kafka client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Stop kills the broker (SIGKILL) by PID and waits for it.
func (k *Kafka) Stop() { k.p.stop() }

// Shutdown stops the broker gracefully (SIGTERM: it saves its state, idempotent producers' sequence
// numbers included) and waits for it. Stop is the crash; Shutdown is the orderly restart.
func (k *Kafka) Shutdown() { k.p.terminate(30 * time.Second) }

// Start restarts a stopped broker on the same port and data directory.
func (k *Kafka) Start() {
	k.p.t.Helper()
	k.p.restart()
}
