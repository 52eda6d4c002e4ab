package lake

import (
	"bytes"
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

// Retrying wraps a Store and retries every failed operation with exponential backoff. A missing object,
// a conflict and a cancelled context are final.
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
		if err = op(); err == nil || errors.Is(err, ErrNotExist) || errors.Is(err, ErrConflict) || ctx.Err() != nil {
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

// Sync implements Store.
func (r *Retrying) Sync(ctx context.Context) error {
	return r.do(ctx, func() error { return r.Store.Sync(ctx) })
}

// Get implements Store.
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

// GetVersion implements Store.
func (r *Retrying) GetVersion(ctx context.Context, key string) (b []byte, v Version, err error) {
	err = r.do(ctx, func() error { b, v, err = r.Store.GetVersion(ctx, key); return err })
	return b, v, err
}

// PutIf implements Store. An attempt that failed may still have written, its answer lost: then the
// next attempt meets a conflict with the object holding exactly the bytes write produces, which
// counts as success. (Another writer's identical bytes count too: callers that must tell them
// apart write something unique.)
func (r *Retrying) PutIf(ctx context.Context, key string, v Version, write func(io.Writer) error) (nv Version, err error) {
	unsure := false // an earlier attempt failed without saying whether it wrote
	err = r.do(ctx, func() error {
		nv, err = r.Store.PutIf(ctx, key, v, write)
		if errors.Is(err, ErrConflict) && unsure {
			nv, err = r.ownWrite(ctx, key, write)
		}
		if err != nil && !errors.Is(err, ErrConflict) {
			unsure = true
		}
		return err
	})
	return nv, err
}

// ownWrite returns the object's version if it holds what write produces, ErrConflict if not.
func (r *Retrying) ownWrite(ctx context.Context, key string, write func(io.Writer) error) (Version, error) {
	cur, v, err := r.Store.GetVersion(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return Absent, fmt.Errorf("put %s: %w", key, ErrConflict)
	}
	if err != nil {
		return Absent, err
	}
	want, err := render(key, write)
	if err != nil {
		return Absent, err
	}
	if !bytes.Equal(cur, want) {
		return Absent, fmt.Errorf("put %s: %w", key, ErrConflict)
	}
	return v, nil
}
