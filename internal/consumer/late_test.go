package consumer

import (
	"context"
	"errors"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/notestream/notestream/internal/testenv"
)

// TestLateFlushEndsWithContext: a flush that waits for a broker that is not there returns when its
// context ends and leaves no goroutine of its own behind; once the broker answers, a flush succeeds.
func TestLateFlushEndsWithContext(t *testing.T) {
	k := testenv.StartKafka(t)
	cl := k.Client(t, kgo.AllowAutoTopicCreation())
	l := newLatePublisher(cl, "late")
	if err := l.flush(context.Background()); err != nil {
		t.Fatalf("flush with nothing published: %v", err)
	}
	k.Stop()
	for range 3 {
		l.publish(&kgo.Record{Key: []byte("u1"), Value: []byte("{}")})
	}
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := l.flush(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("flush with the broker stopped: %v", err)
		}
	}
	var stacks strings.Builder
	pprof.Lookup("goroutine").WriteTo(&stacks, 2)
	if n := strings.Count(stacks.String(), "(*latePublisher).flush"); n != 0 {
		t.Fatalf("%d goroutines of flush outlived their contexts:\n%s", n, stacks.String())
	}
	k.Start()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err := l.flush(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("flush after the broker returned: %v", err)
		}
	}
}
