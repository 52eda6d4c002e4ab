package consumer_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/notestream/notestream/internal/consumer"
)

// TestUsersTopicEmptyAtStart: a consumer that starts while the users topic is still empty (a producer
// creates its topics before it writes the users) or does not exist yet (the consumer started before
// the producer) must join every interaction to the users written before it, as a consumer started
// after the users were written does: both end with the same keys in Redis, the "unknown" segment
// holding only the users without metadata. The topics appear at once in the second case, while the
// early consumer's cached metadata (kadm's, up to 5 s old) still has them missing.
func TestUsersTopicEmptyAtStart(t *testing.T) {
	t.Run("empty", func(t *testing.T) { testUsersTopicAtStart(t, true) })
	t.Run("missing", func(t *testing.T) { testUsersTopicAtStart(t, false) })
}

func testUsersTopicAtStart(t *testing.T, created bool) {
	k, rdb, cl, adm := startBroker(t)
	if created {
		createTopics(t, adm)
	}
	runCtx, stop := context.WithCancel(t.Context())
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
	if !created {
		createTopics(t, adm)
	}
	produceUsers(t, cl, users)
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

	want, got := rolledUpState(t, rdb, "late:", 2), rolledUpState(t, rdb, "early:", 2)
	if len(want) < 10 {
		t.Fatalf("the late consumer wrote %d keys", len(want))
	}
	for key, w := range want { // keys without their prefix
		if g, ok := got[key]; !ok || g != w {
			t.Errorf("%s: early %.200q, late %.200q", key, g, w)
		}
	}
}
