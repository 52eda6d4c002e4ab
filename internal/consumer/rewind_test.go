package consumer_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/consumer"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/hll"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/rtstate"
	"github.com/notestream/notestream/internal/rtstore"
	"github.com/notestream/notestream/internal/testenv"
)

// TestRewindAfterLostCheckpoints plays a Redis that loses checkpoints it acknowledged, as a failover
// to a replica they had not reached does: after partition 0's 6th checkpoint every key of that
// partition is put back as it was after its 3rd. The consumer must notice at its next checkpoint,
// rewind the partition by itself (no exit, one rewind counted, Kafka's group offset moved back),
// replay from Kafka, and end with exactly the state of a consumer that lost nothing.
func TestRewindAfterLostCheckpoints(t *testing.T) {
	k, rdb, cl, adm := startTopics(t)
	ctx := t.Context()
	const users = 200
	produceUsers(t, cl, users)

	lossy := &losingStore{rdb: rdb, adm: adm, group: "lossy", keys: "lossy:{" + event.TopicInteractions + "/0}:*", saveAt: 3, loseAt: 6}
	lossy.Store = newStore(t, rdb, "lossy:")
	cleanReg, lossyReg := prometheus.NewRegistry(), prometheus.NewRegistry()
	runs := []struct {
		group string
		store consumer.Store
		reg   *prometheus.Registry
	}{
		{"clean", newStore(t, rdb, "clean:"), cleanReg},
		{"lossy", lossy, lossyReg},
	}
	runCtx, stop := context.WithCancel(ctx)
	errs := make(chan error, len(runs))
	for _, r := range runs {
		c, err := consumer.New(consumer.Config{
			Brokers: []string{k.Addr}, Group: r.group, CheckpointInterval: 20 * time.Millisecond,
			Registerer: r.reg, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		}, r.store)
		if err != nil {
			t.Fatal(err)
		}
		go func() { errs <- c.Run(runCtx) }()
	}

	// Two partitions of events in time order, in small paced batches, so that each is a checkpoint of
	// its own; an end control record closes each partition's sessions.
	ends := produceInteractions(t, cl, users, 2, 40, 250)
	for _, r := range runs {
		waitCheckpointed(t, rdb, r.group+":", ends, 60*time.Second)
	}
	stop()
	for range runs {
		if err := <-errs; err != nil {
			t.Errorf("Run: %v", err)
		}
	}

	lossy.mu.Lock()
	defer lossy.mu.Unlock()
	if lossy.err != nil {
		t.Fatal(lossy.err)
	}
	if lossy.lostOffset == 0 {
		t.Fatalf("partition 0 wrote %d checkpoints: the loss was never played", lossy.commits)
	}
	if n := counter(t, lossyReg, "notestream_consumer_checkpoint_rewinds_total"); n != 1 {
		t.Errorf("%v rewinds counted, want 1", n)
	}
	if n := counter(t, cleanReg, "notestream_consumer_checkpoint_rewinds_total"); n != 0 {
		t.Errorf("the clean run counted %v rewinds", n)
	}
	if lossy.kafkaAtRewind != lossy.savedOffset {
		t.Errorf("Kafka's group offset at the rewound partition's first checkpoint: %d, want Redis's %d (lost: up to %d)",
			lossy.kafkaAtRewind, lossy.savedOffset, lossy.lostOffset)
	}
	want, got := rolledUpState(t, rdb, "clean:", 2), rolledUpState(t, rdb, "lossy:", 2)
	if len(want) < 10 {
		t.Fatalf("the clean run wrote %d keys", len(want))
	}
	for key, w := range want {
		if g, ok := got[key]; !ok || g != w {
			t.Errorf("%s: after the rewind %.200q, clean %.200q", key, g, w)
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("%s: after the rewind only", key)
		}
	}
	t.Logf("lost partition 0's checkpoints from offset %d to %d; %d keys compared", lossy.savedOffset, lossy.lostOffset, len(want))
}

// startTopics starts a kfake broker with two interactions partitions and one users partition, and a
// redis-server; cl writes to the partition a record names.
func startTopics(t *testing.T) (*testenv.Kafka, redis.UniversalClient, *kgo.Client, *kadm.Client) {
	t.Helper()
	k, rdb, cl, adm := startBroker(t)
	createTopics(t, adm)
	return k, rdb, cl, adm
}

// startBroker starts a broker without topics and a Redis.
func startBroker(t *testing.T) (*testenv.Kafka, redis.UniversalClient, *kgo.Client, *kadm.Client) {
	t.Helper()
	k := testenv.StartKafka(t, testenv.Kfake())
	rdb := testenv.StartRedis(t).Client(t)
	cl := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	return k, rdb, cl, kadm.NewClient(cl)
}

// createTopics creates interactions (2 partitions) and users (1).
func createTopics(t *testing.T, adm *kadm.Client) {
	t.Helper()
	for topic, partitions := range map[string]int32{event.TopicInteractions: 2, event.TopicUsers: 1} {
		if _, err := adm.CreateTopic(t.Context(), partitions, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
}

// produceUsers writes the metadata of users u0 … u<users-1>, but for every tenth, who has none.
func produceUsers(t *testing.T, cl *kgo.Client, users int) {
	t.Helper()
	for u := range users {
		if u%10 == 9 {
			continue
		}
		v := record.AppendUser(nil, &event.User{UserID: fmt.Sprint("u", u), JoinDate: "2022-01-01",
			Country: []string{"US", "DE", "FR"}[u%3], DeviceType: "iPad", SubscriptionType: "free"})
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: event.TopicUsers, Key: []byte(fmt.Sprint("u", u)), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func newStore(t *testing.T, rdb redis.UniversalClient, prefix string) *rtstore.Store {
	t.Helper()
	s, err := rtstore.New(rdb, rtstore.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// losingStore is a Store whose partition 0 loses acknowledged checkpoints: after the saveAt-th it
// saves every key of the partition, and after the loseAt-th it puts them back as saved, deleting
// the others, as a failover to a replica that had stopped replicating after the saveAt-th would.
// Only partition 0's writer calls Commit for partition 0, one checkpoint at a time.
type losingStore struct {
	*rtstore.Store
	rdb            redis.UniversalClient
	adm            *kadm.Client
	group          string
	keys           string // pattern of partition 0's keys
	saveAt, loseAt int

	mu            sync.Mutex
	commits       int
	saved         map[string]savedKey
	savedOffset   int64 // offset of the checkpoint Redis keeps
	lostOffset    int64 // offset of the last checkpoint Redis loses
	kafkaAtRewind int64 // the group's offset in Kafka at the first checkpoint after the rewind
	err           error // of saving, restoring or reading Kafka: the test's, not the consumer's
}

type savedKey struct {
	dump string
	ttl  time.Duration
}

func (s *losingStore) Commit(ctx context.Context, c *rtstate.Commit) error {
	err := s.Store.Commit(ctx, c)
	if err != nil || c.Partition != 0 {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	switch {
	case s.err != nil:
	case s.commits == s.saveAt:
		s.saved, s.err = s.dump(ctx)
		s.savedOffset = c.Offset
	case s.commits == s.loseAt:
		s.err = s.restore(ctx)
		s.lostOffset = c.Offset
	case s.commits > s.loseAt && c.Expect == s.savedOffset && s.kafkaAtRewind == 0:
		// Just written by the rewound partition, whose writer committed to Kafka first.
		offsets, err := s.adm.FetchOffsets(ctx, s.group)
		if err != nil {
			s.err = fmt.Errorf("fetch the group's offsets: %w", err)
			break
		}
		o, _ := offsets.Lookup(event.TopicInteractions, 0)
		s.kafkaAtRewind = o.At
	}
	return nil
}

func (s *losingStore) dump(ctx context.Context) (map[string]savedKey, error) {
	keys, err := s.rdb.Keys(ctx, s.keys).Result()
	if err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	out := map[string]savedKey{}
	for _, k := range keys {
		d, err := s.rdb.Dump(ctx, k).Result()
		if err != nil {
			return nil, fmt.Errorf("save %s: %w", k, err)
		}
		out[k] = savedKey{d, max(0, s.rdb.PTTL(ctx, k).Val())}
	}
	return out, nil
}

func (s *losingStore) restore(ctx context.Context) error {
	now, err := s.rdb.Keys(ctx, s.keys).Result()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, now...)
		for k, v := range s.saved {
			pipe.RestoreReplace(ctx, k, v.ttl, v.dump)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// produceInteractions writes batches batches of perBatch events to each of partitions partitions,
// 20 ms apart, of users users (a user's events all in one partition) over about three days, then an
// end control record per partition. It returns the end offsets.
func produceInteractions(t *testing.T, cl *kgo.Client, users, partitions, batches, perBatch int) map[int32]int64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	start := time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	now := start
	ends := map[int32]int64{}
	for range batches {
		var recs []*kgo.Record
		for range perBatch * partitions {
			now += rng.Int64N(2 * 3 * 86400_000 / int64(batches*perBatch*partitions))
			u := rng.IntN(users)
			in := event.Interaction{UserID: fmt.Sprint("u", u), Time: now, Action: event.Actions[rng.IntN(len(event.Actions))],
				PageID: fmt.Sprint("p", rng.IntN(100)), DurationMs: rng.Int64N(60_000), AppVersion: fmt.Sprint("5.7.", u%3)}
			recs = append(recs, &kgo.Record{Topic: event.TopicInteractions, Partition: int32(u % partitions),
				Key: []byte(in.UserID), Value: record.AppendInteraction(nil, &in), Timestamp: time.UnixMilli(now)})
		}
		if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for p := range int32(partitions) {
		end := &kgo.Record{Topic: event.TopicInteractions, Partition: p, Timestamp: time.UnixMilli(now),
			Value:   record.AppendControl(nil, record.Control{Kind: record.ControlEnd, EventTime: now}),
			Headers: []kgo.RecordHeader{{Key: record.ControlHeader, Value: []byte(record.ControlEnd)}}}
		r, err := cl.ProduceSync(t.Context(), end).First()
		if err != nil {
			t.Fatal(err)
		}
		ends[p] = r.Offset + 1
	}
	return ends
}

// waitCheckpointed waits until every partition's checkpoint under prefix is at its end offset.
func waitCheckpointed(t *testing.T, rdb redis.UniversalClient, prefix string, ends map[int32]int64, timeout time.Duration) {
	t.Helper()
	var why string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		why = ""
		for p, end := range ends {
			key := fmt.Sprintf("%s{%s/%d}:ck", prefix, event.TopicInteractions, p)
			if got, err := rdb.HGet(t.Context(), key, "offset").Int64(); err != nil || got != end {
				why = fmt.Sprintf("%s at %d (%v), want %d", key, got, err, end)
			}
		}
		if why == "" {
			return
		}
	}
	t.Fatalf("not checkpointed within %v: %s", timeout, why)
}

// rolledUpState is redisState after rolling up every day the topic's partitions have closed: each
// consumer rolls up on its own ticker, so of two that stopped together one may have rolled up a day
// the other has not.
func rolledUpState(t *testing.T, rdb redis.UniversalClient, prefix string, partitions int32) map[string]string {
	t.Helper()
	if _, err := newStore(t, rdb, prefix).RollUp(t.Context(), partitions); err != nil {
		t.Fatalf("roll up %s: %v", prefix, err)
	}
	return redisState(t, rdb, prefix)
}

// redisState is every key under prefix (named without it) and its value: hashes as their sorted
// fields, the checkpoint's owner token left out; HyperLogLogs as their registers, since the bytes
// of a sparse one depend on the order of the merges; sets as their sorted members.
func redisState(t *testing.T, rdb redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		var v string
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "hash":
			m := rdb.HGetAll(ctx, k).Val()
			if strings.HasSuffix(k, ":ck") {
				delete(m, "owner")
			}
			var fields []string
			for f, x := range m {
				fields = append(fields, f+"="+x)
			}
			slices.Sort(fields)
			v = strings.Join(fields, "\n")
		case "string":
			s, err := hll.Decode([]byte(rdb.Get(ctx, k).Val()))
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			v = string(s.AppendDense(nil))
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			slices.Sort(m)
			v = strings.Join(m, ",")
		default:
			t.Fatalf("%s: unexpected type %s", k, typ)
		}
		out[strings.TrimPrefix(k, prefix)] = v
	}
	return out
}

// counter is the value of an unlabelled counter in reg; -1 if absent.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}
