package rtstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnreachable means Redis did not answer for the whole timeout. Its text reads well after a
// command's prefix: "consumer: redis unreachable: …".
var ErrUnreachable = errors.New("redis unreachable")

// Ping waits up to timeout for Redis to answer PING on a connection that passed AUTH, so that the
// consumer fails at start-up with the cause, and readiness reports a Redis that stopped answering. A
// rejected login fails at once. Errors name the server, never the password.
func (s *Store) Ping(ctx context.Context, timeout time.Duration) error {
	if timeout <= 0 {
		return fmt.Errorf("redis timeout %v: must be positive", timeout)
	}
	addr := "redis"
	switch c := s.rdb.(type) {
	case *redis.Client:
		addr = "redis " + c.Options().Addr
	case *redis.ClusterClient:
		addr = "redis cluster " + strings.Join(c.Options().Addrs, ",")
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		// Short attempts, so the cause (refused, a TLS error) is reported rather than only the deadline.
		attempt, cancelAttempt := context.WithTimeout(ctx, min(timeout, 2*time.Second))
		err := s.rdb.Ping(attempt).Err()
		cancelAttempt()
		if err == nil {
			return nil
		}
		if !errors.Is(err, context.DeadlineExceeded) || last == nil {
			last = err
		}
		if redis.IsAuthError(err) || redis.IsPermissionError(err) {
			return fmt.Errorf("%s rejected the login (check the user and password of --redis): %w", addr, err)
		}
		if parent.Err() != nil {
			return fmt.Errorf("ping %s: %w", addr, context.Cause(parent))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %s for %s: %w", ErrUnreachable, addr, timeout, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
