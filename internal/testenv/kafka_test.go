package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// produce writes n keyed records with a header to topic, failing the test unless all are acknowledged.
func produce(t *testing.T, c *kgo.Client, topic string, n int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{
			Topic:   topic,
			Key:     fmt.Appendf(nil, "u%d", i),
			Value:   fmt.Appendf(nil, `{"n":%d}`, i),
			Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("smoke")}},
		}
	}
	if err := c.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// wantKcat is what `kcat -C -e -f '%k %h %s\n'` prints for produce's n records on one partition.
func wantKcat(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "u%d source=smoke {\"n\":%d}\n", i, i)
	}
	return b.String()
}

func consumeKcat(t *testing.T, k *Kafka, topic string, extra ...string) string {
	t.Helper()
	args := append([]string{"-C", "-b", k.Addr, "-t", topic, "-e", "-q", "-f", `%k %h %s\n`}, extra...)
	return string(Kcat(t, nil, args...))
}

// flavours runs f against Apache Kafka and against kfake, each as a subtest.
func flavours(t *testing.T, f func(t *testing.T, opts ...KafkaOption)) {
	t.Run("apache", func(t *testing.T) { f(t) })
	t.Run("kfake", func(t *testing.T) { f(t, Kfake()) })
}

func TestKafkaProduceKcatRestart(t *testing.T) { flavours(t, testKafkaProduceKcatRestart) }

func testKafkaProduceKcatRestart(t *testing.T, opts ...KafkaOption) {
	k := StartKafka(t, opts...)
	c := k.Client(t)
	if _, err := kadm.NewClient(c).CreateTopic(context.Background(), 1, 1, nil, "events"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	const n = 1000
	produce(t, c, "events", n)
	want := wantKcat(n)
	if got := consumeKcat(t, k, "events"); got != want {
		t.Fatalf("kcat read %d bytes, want %d:\n%.300s", len(got), len(want), got)
	}

	// Acknowledged records survive a SIGKILL: they reached the data directory before the ack.
	k.Stop()
	k.Start()
	if got := consumeKcat(t, k, "events"); got != want {
		t.Fatalf("after restart kcat read %d bytes, want %d:\n%.300s", len(got), len(want), got)
	}
}

// TestKafkaProducerOutlivesKill keeps one idempotent franz-go producer running while the broker is
// killed and restarted: the broker recovers its producer state from the data dir, so the producer goes
// on without losing or duplicating a record.
func TestKafkaProducerOutlivesKill(t *testing.T) { flavours(t, testKafkaProducerOutlivesKill) }

func testKafkaProducerOutlivesKill(t *testing.T, opts ...KafkaOption) {
	k := StartKafka(t, opts...)
	c := k.Client(t, kgo.DefaultProduceTopic("e"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(c).CreateTopic(ctx, 1, 1, nil, "e"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	send := func(from, to int) error {
		for i := from; i < to; i++ {
			if err := c.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
		}
		return nil
	}
	const n = 200
	if err := send(0, n); err != nil {
		t.Fatal(err)
	}
	k.Stop()
	errs := make(chan error, 1)
	go func() { errs <- send(n, 2*n) }() // blocks in retries until the broker is back
	time.Sleep(200 * time.Millisecond)
	k.Start()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 2 * n {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if got := string(Kcat(t, nil, "-C", "-b", k.Addr, "-t", "e", "-e", "-q", "-f", `%s\n`)); got != want.String() {
		t.Fatalf("after the kill kcat read %d bytes, want %d:\n%.300s", len(got), want.Len(), got)
	}
}

func TestKafkaAutoCreatedTopicSurvivesKill(t *testing.T) {
	flavours(t, testKafkaAutoCreatedTopicSurvivesKill)
}

func testKafkaAutoCreatedTopicSurvivesKill(t *testing.T, opts ...KafkaOption) {
	k := StartKafka(t, append(opts, Partitions(3))...)
	// kcat's producer asks for auto-creation; the broker gives such topics --partitions partitions.
	Kcat(t, []byte("k1:v1\nk2:v2\n"), "-P", "-b", k.Addr, "-t", "auto", "-K:", "-p", "2")
	k.Stop()
	k.Start()
	if got := consumeKcat(t, k, "auto", "-p", "2"); got != "k1  v1\nk2  v2\n" {
		t.Fatalf("after restart kcat read %q", got)
	}
	topics, err := kadm.NewClient(k.Client(t)).ListTopics(context.Background(), "auto")
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	if n := len(topics["auto"].Partitions); n != 3 {
		t.Errorf("auto-created topic has %d partitions, want 3", n)
	}
}

// kcat (librdkafka 2.0.2) cannot authenticate to kfake: it wants SaslHandshake v0 in the
// ApiVersions ranges and kfake serves v1 only. So SASL is checked with franz-go's mechanisms.
func TestKafkaSASL(t *testing.T) { flavours(t, testKafkaSASL) }

func testKafkaSASL(t *testing.T, opts ...KafkaOption) {
	k := StartKafka(t, append(opts, SASL("alice", "s3cret"))...)
	produce(t, k.Client(t, kgo.AllowAutoTopicCreation()), "secure", 3) // SCRAM-SHA-256

	mechs := map[string]sasl.Mechanism{
		"PLAIN":         plain.Auth{User: "alice", Pass: "s3cret"}.AsMechanism(),
		"SCRAM-SHA-256": scram.Auth{User: "alice", Pass: "s3cret"}.AsSha256Mechanism(),
		"SCRAM-SHA-512": scram.Auth{User: "alice", Pass: "s3cret"}.AsSha512Mechanism(),
	}
	for name, mech := range mechs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := kgo.NewClient(kgo.SeedBrokers(k.Addr), kgo.SASL(mech), kgo.ConsumeTopics("secure"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		fs := c.PollRecords(ctx, 3)
		n := fs.NumRecords()
		c.Close()
		cancel()
		if n != 3 {
			t.Errorf("%s: read %d records, want 3 (errors %v)", name, n, fs.Errors())
		}
	}

	bad, err := kgo.NewClient(kgo.SeedBrokers(k.Addr), kgo.SASL(plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Ping(context.Background()); err == nil {
		t.Error("ping with a wrong password succeeded")
	}
}
