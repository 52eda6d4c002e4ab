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

	mu      sync.Mutex
	pending int           // records published and not yet acknowledged
	idle    chan struct{} // closed while pending is 0; a new one once a record is published
	failed  []*kgo.Record
	err     error // the last failure, for flush's error
}

func newLatePublisher(cl *kgo.Client, topic string) *latePublisher {
	idle := make(chan struct{})
	close(idle)
	return &latePublisher{cl: cl, topic: topic, idle: idle}
}

// publish sends a copy of the late event r. The copy shares r's key, value and headers, which
// nothing modifies.
func (l *latePublisher) publish(r *kgo.Record) {
	l.produce(&kgo.Record{Topic: l.topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp})
}

func (l *latePublisher) produce(r *kgo.Record) {
	l.mu.Lock()
	if l.pending == 0 {
		l.idle = make(chan struct{})
	}
	l.pending++
	l.mu.Unlock()
	l.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			l.failed = append(l.failed, r)
			l.err = err
		}
		if l.pending--; l.pending == 0 {
			close(l.idle)
		}
	})
}

// flush waits until every late event published so far is acknowledged, or ctx ends; it starts no
// goroutine, so nothing of it outlives ctx. It publishes failed records again and reports the
// failure; the caller retries.
func (l *latePublisher) flush(ctx context.Context) error {
	l.mu.Lock()
	idle := l.idle
	l.mu.Unlock()
	select {
	case <-idle:
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
