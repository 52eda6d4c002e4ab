package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestConfigValidate(t *testing.T) {
	f := func(cfg Config, wantErr string) {
		t.Helper()
		err := cfg.Validate()
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%+v: %v", cfg, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%+v: error %v, want one containing %q", cfg, err, wantErr)
		}
	}
	f(Config{DataDir: "d"}, "")
	f(Config{DataDir: "d", Listen: "localhost:0", Partitions: 3, SASLUser: "u", SASLPassword: "p"}, "")
	f(Config{}, "no data directory")
	f(Config{DataDir: "d", Listen: "0.0.0.0:9092"}, "wildcard")
	f(Config{DataDir: "d", Listen: ":9092"}, "wildcard")
	f(Config{DataDir: "d", Listen: "127.0.0.1"}, "listen address")
	f(Config{DataDir: "d", Listen: "127.0.0.1:99999"}, "bad port")
	f(Config{DataDir: "d", Partitions: -1}, "partitions")
	f(Config{DataDir: "d", SASLUser: "u"}, "SASL")
}

func start(t *testing.T, dir string) *Broker {
	t.Helper()
	b, err := Start(Config{Listen: "127.0.0.1:0", DataDir: dir, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestAutoCreatedTopicPersisted checks the topic list is on disk as soon as a metadata request has
// created a topic, not only after Close: otherwise a killed broker forgets the topic and its records.
func TestAutoCreatedTopicPersisted(t *testing.T) {
	dir := t.TempDir()
	b := start(t, dir)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "auto", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	topics, err := os.ReadFile(filepath.Join(dir, "topics.json"))
	if err != nil || !strings.Contains(string(topics), `"name":"auto"`) || !strings.Contains(string(topics), `"partitions":2`) {
		t.Fatalf("topics.json before close = %s, %v; want topic auto with 2 partitions", topics, err)
	}
}

func TestRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	b := start(t, dir)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%7), Value: fmt.Appendf(nil, "%d", i)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	b.Close()

	b = start(t, dir)
	cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := make(map[string]bool)
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records after restart: %v", len(seen), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	for i := range n {
		if !seen[fmt.Sprint(i)] {
			t.Fatalf("record %d missing after restart", i)
		}
	}
}
