package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// RetryConfig sets how often and how patiently a Retrying store repeats a failed operation.
type RetryConfig struct {
	Attempts int           // tries per operation; default 6
	Base     time.Duration // first backoff, doubled after each failure; default 200ms
	Max      time.Duration // longest backoff; default 5s
}

func (c *RetryConfig) defaults() {
	if c.Attempts <= 0 {
		c.Attempts = 6
	}
	if c.Base <= 0 {
		c.Base = 200 * time.Millisecond
	}
	if c.Max <= 0 {
		c.Max = 5 * time.Second
	}
}

// Retrying wraps a Store and retries every failed operation with exponential backoff. A missing object
// and a cancelled context are final.
type Retrying struct {
	Store
	cfg RetryConfig
}

// NewRetrying wraps s.
func NewRetrying(s Store, cfg RetryConfig) *Retrying {
	cfg.defaults()
	return &Retrying{Store: s, cfg: cfg}
}

func (r *Retrying) do(ctx context.Context, op func() error) error {
	wait := r.cfg.Base
	var err error
	for attempt := 1; ; attempt++ {
		if err = op(); err == nil || errors.Is(err, ErrNotExist) || ctx.Err() != nil {
			return err
		}
		if attempt == r.cfg.Attempts {
			return fmt.Errorf("storage unreachable after %d attempts: %w", attempt, err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, r.cfg.Max)
	}
}

// Put implements Store.
func (r *Retrying) Put(ctx context.Context, key string, write func(io.Writer) error) error {
	return r.do(ctx, func() error { return r.Store.Put(ctx, key, write) })
}

// Get implements Store.
// Sync implements Store.
func (r *Retrying) Sync(ctx context.Context) error {
	return r.do(ctx, func() error { return r.Store.Sync(ctx) })
}

func (r *Retrying) Get(ctx context.Context, key string) (b []byte, err error) {
	err = r.do(ctx, func() error { b, err = r.Store.Get(ctx, key); return err })
	return b, err
}

// List implements Store.
func (r *Retrying) List(ctx context.Context, prefix string) (keys []string, err error) {
	err = r.do(ctx, func() error { keys, err = r.Store.List(ctx, prefix); return err })
	return keys, err
}

// Delete implements Store.
func (r *Retrying) Delete(ctx context.Context, key string) error {
	return r.do(ctx, func() error { return r.Store.Delete(ctx, key) })
}
