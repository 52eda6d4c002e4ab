package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Kafka is a single-node broker process with a data directory, on a free loopback port: Apache Kafka
// (scripts/apache-kafka.sh) by default, or kfake (cmd/broker, the demo's embedded broker) with Kfake.
type Kafka struct {
	Addr    string // host:port
	DataDir string
	// User and Password are the SASL credentials the broker requires, empty without SASL.
	User, Password string
	// Fake reports a kfake broker rather than Apache Kafka.
	Fake bool

	p *proc
}

// KafkaOption configures a broker that StartKafka starts.
type KafkaOption func(*kafkaConfig)

type kafkaConfig struct {
	fake           bool
	partitions     int
	user, password string
}

// Kfake starts the embedded kfake broker (cmd/broker) instead of Apache Kafka.
func Kfake() KafkaOption { return func(c *kafkaConfig) { c.fake = true } }

// Partitions sets the partition count of topics the broker creates on first use (default 1).
func Partitions(n int) KafkaOption { return func(c *kafkaConfig) { c.partitions = n } }

// SASL makes the broker require a SASL login (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) as user.
func SASL(user, password string) KafkaOption {
	return func(c *kafkaConfig) { c.user, c.password = user, password }
}

// SASLEnv is a SCRAM-SHA-256 login as the commands take it from the environment, as in production.
func SASLEnv(user, password string) []string {
	return []string{"NOTESTREAM_SASL_MECHANISM=scram-sha-256", "NOTESTREAM_SASL_USER=" + user, "NOTESTREAM_SASL_PASSWORD=" + password}
}

// StartKafka starts a broker; t.Cleanup stops it by PID.
func StartKafka(t testing.TB, opts ...KafkaOption) *Kafka {
	t.Helper()
	cfg := kafkaConfig{partitions: 1}
	for _, o := range opts {
		o(&cfg)
	}
	dir := t.TempDir()
	k := &Kafka{DataDir: filepath.Join(dir, "data"), User: cfg.user, Password: cfg.password, Fake: cfg.fake}
	if cfg.fake {
		k.p = newProc(t, "broker", Binary(t, "./cmd/broker"), nil, nil, dir, k.ping)
		k.p.startFresh(func() {
			k.Addr = loopback(freePort(t))
			k.p.args = []string{"--listen", k.Addr, "--data-dir", k.DataDir, "--partitions", strconv.Itoa(cfg.partitions)}
			if cfg.user != "" {
				k.p.args = append(k.p.args, "--sasl-user", cfg.user, "--sasl-password", cfg.password)
			}
		})
		return k
	}
	launcher := filepath.Join(moduleDir(t), "scripts", "apache-kafka.sh")
	k.p = newProc(t, "kafka", launcher, nil, nil, dir, k.ping)
	k.p.startFresh(func() {
		port, controller := freePort(t), freePort(t)
		k.Addr = loopback(port)
		k.p.args = []string{strconv.Itoa(port), k.DataDir}
		k.p.env = []string{
			"KAFKA_CONTROLLER_PORT=" + strconv.Itoa(controller),
			"KAFKA_PARTITIONS=" + strconv.Itoa(cfg.partitions),
			"KAFKA_SASL_USER=" + cfg.user,
			"KAFKA_SASL_PASSWORD=" + cfg.password,
			"KAFKA_HOME=" + kafkaHome(t),
			// C1 only and the serial collector halve the JVM's start on two busy cores; a test
			// broker needs no peak throughput.
			"KAFKA_JVM_OPTS=-Xms128m -Xmx1g -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
		}
	})
	return k
}

// kafkaHome is where scripts/setup.sh installs Apache Kafka's jars.
func kafkaHome(t testing.TB) string {
	t.Helper()
	home := filepath.Join(filepath.Dir(toolDir()), "kafka-4.4.0")
	if _, err := os.Stat(filepath.Join(home, ".complete")); err != nil {
		t.Fatalf("testenv: Apache Kafka is not installed in %s: run scripts/setup.sh (make setup)", home)
	}
	return home
}

// moduleDir is the module's root directory, failing the test if there is none.
func moduleDir(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return root
}

// ping succeeds once the broker answers a metadata request: kfake after loading its data dir, Apache
// Kafka once its broker has registered with its controller.
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

// Shutdown stops the broker gracefully (SIGTERM) and waits for it. Stop is the crash; Shutdown is the
// orderly restart.
func (k *Kafka) Shutdown() { k.p.terminate(60 * time.Second) }

// Start restarts a stopped broker on the same port and data directory.
func (k *Kafka) Start() {
	k.p.t.Helper()
	k.p.restart()
}

// ClientProperties writes a Java client configuration for the broker (its SASL login, if any) into
// a temp file and returns its path, for the console tools' --command-config and --consumer.config.
func (k *Kafka) ClientProperties(t testing.TB) string {
	t.Helper()
	var props string
	if k.User != "" {
		props = fmt.Sprintf("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"+
			"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=%q password=%q;\n",
			k.User, k.Password)
	}
	path := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(path, []byte(props), 0o600); err != nil {
		t.Fatalf("testenv: client properties: %v", err)
	}
	return path
}
