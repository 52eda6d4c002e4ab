package consumer_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/consumer"
	"github.com/notestream/notestream/internal/event"
	"github.com/notestream/notestream/internal/record"
	"github.com/notestream/notestream/internal/testenv"
)

// TestUsersTopicEmptyAtStart: a consumer that starts while the users topic exists but is still empty
// (a producer creates its topics before it writes the users) must join every interaction to the users
// written before it, as a consumer started after the users were written does: both end with the same
// keys in Redis, the "unknown" segment holding only the users without metadata.
func TestUsersTopicEmptyAtStart(t *testing.T) {
	k := testenv.StartKafka(t, testenv.Kfake())
	rdb := testenv.StartRedis(t).Client(t)
	ctx := t.Context()
	cl := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	for topic, partitions := range map[string]int32{event.TopicInteractions: 2, event.TopicUsers: 1} {
		if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	errs := make(chan error, 2)
	start := func(group string) *consumer.Consumer {
		c, err := consumer.New(consumer.Config{
			Brokers: []string{k.Addr}, Group: group, CheckpointInterval: 20 * time.Millisecond,
			Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		}, newStore(t, rdb, group+":"))
		if err != nil {
			t.Fatal(err)
		}
		go func() { errs <- c.Run(runCtx) }()
		return c
	}
	early := start("early")
	for deadline := time.Now().Add(30 * time.Second); early.Ready() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the early consumer is not ready: %v", early.Ready())
		}
	}

	const users = 200
	for u := range users {
		if u%10 == 9 {
			continue // users without metadata
		}
		v := record.AppendUser(nil, &event.User{UserID: fmt.Sprint("u", u), JoinDate: "2022-01-01",
			Country: []string{"US", "DE", "FR"}[u%3], DeviceType: "iPad", SubscriptionType: "free"})
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: event.TopicUsers, Key: []byte(fmt.Sprint("u", u)), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start("late")
	ends := produceInteractions(t, cl, users, 2, 10, 250)
	for _, group := range []string{"early", "late"} {
		waitCheckpointed(t, rdb, group+":", ends, 60*time.Second)
	}
	stop()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Run: %v", err)
		}
	}

	want, got := redisState(t, rdb, "late:"), redisState(t, rdb, "early:")
	if len(want) < 10 {
		t.Fatalf("the late consumer wrote %d keys", len(want))
	}
	for key, w := range want { // keys without their prefix
		if g, ok := got[key]; !ok || g != w {
			t.Errorf("%s: early %.200q, late %.200q", key, g, w)
		}
	}
}
