package consumer

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// latePublisher copies one partition's late events to the late topic, at least once: flush waits for
// every record published so far and publishes failed ones again.
type latePublisher struct {
	cl    *kgo.Client
	topic string

	wg     sync.WaitGroup
	mu     sync.Mutex
	failed []*kgo.Record
	err    error // the last failure, for flush's error
}

func newLatePublisher(cl *kgo.Client, topic string) *latePublisher {
	return &latePublisher{cl: cl, topic: topic}
}

// publish sends a copy of the late event r. The copy shares r's key, value and headers, which
// nothing modifies.
func (l *latePublisher) publish(r *kgo.Record) {
	l.produce(&kgo.Record{Topic: l.topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
}

func (l *latePublisher) produce(r *kgo.Record) {
	l.wg.Add(1)
	l.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if err != nil {
			l.mu.Lock()
			l.failed = append(l.failed, r)
			l.err = err
			l.mu.Unlock()
		}
		l.wg.Done()
	})
}

// flush waits until every late event published so far is acknowledged. It publishes failed records
// again and reports the failure; the caller retries.
func (l *latePublisher) flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	l.mu.Lock()
	failed, err := l.failed, l.err
	l.failed, l.err = nil, nil
	l.mu.Unlock()
	if len(failed) == 0 {
		return nil
	}
	for _, r := range failed {
		l.produce(r)
	}
	return fmt.Errorf("publish %d late events to %s: %w", len(failed), l.topic, err)
}
