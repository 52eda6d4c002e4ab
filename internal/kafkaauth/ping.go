package kafkaauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrUnreachable means no broker answered for the whole timeout. Its text reads well after a
// command's prefix: "consumer: brokers unreachable: …".
var ErrUnreachable = errors.New("brokers unreachable")

// Ping waits up to timeout for one of brokers to answer a client with c's TLS and SASL settings, so
// that a command fails at start-up with the cause rather than later with a bare EOF or not at all.
// A rejected login fails at once; so does a login the brokers keep cutting off. Errors never hold
// the password.
func (c Config) Ping(ctx context.Context, brokers []string, timeout time.Duration) error {
	if timeout <= 0 {
		return fmt.Errorf("broker timeout %v: must be positive", timeout)
	}
	opts, err := c.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	eofs := 0
	for {
		// Short attempts, so the cause (refused, TLS, SASL) is reported rather than only the deadline.
		attempt, cancelAttempt := context.WithTimeout(ctx, min(timeout, 2*time.Second))
		err := cl.Ping(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		if !errors.Is(err, context.DeadlineExceeded) || last == nil {
			last = err
		}
		if isAuthError(err) {
			return fmt.Errorf("brokers %s rejected the SASL login: check --sasl-user, the password and --sasl-mechanism (%s): %w",
				strings.Join(brokers, ","), c.SASLMechanism, err)
		}
		// Some brokers (kfake among them) close the connection on a failed login instead of answering
		// SASL_AUTHENTICATION_FAILED; a connection that opens and then closes right away says the same.
		if c.SASLMechanism != "" && errors.Is(err, io.EOF) {
			if eofs++; eofs == 3 {
				return fmt.Errorf("brokers %s closed the connection during the SASL login: check --sasl-user, the password and --sasl-mechanism (%s): %w",
					strings.Join(brokers, ","), c.SASLMechanism, err)
			}
		}
		if parent.Err() != nil {
			// Stopped (a signal), not timed out: the brokers may be fine.
			return fmt.Errorf("ping brokers %s: %w", strings.Join(brokers, ","), context.Cause(parent))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %s for %s: %w", ErrUnreachable, strings.Join(brokers, ","), timeout, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func isAuthError(err error) bool {
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.IllegalSaslState) ||
		errors.Is(err, kerr.UnsupportedSaslMechanism)
}
