package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
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

// Open implements Store. A ReadAt that fails is retried on a fresh Open of the object: a failed
// minio.Object keeps returning its first error.
func (r *Retrying) Open(ctx context.Context, key string) (ObjectReader, error) {
	o := &retryingReader{r: r, ctx: ctx, key: key}
	if err := r.do(ctx, func() error { var err error; o.cur, err = r.Store.Open(ctx, key); return err }); err != nil {
		return nil, err
	}
	o.size = o.cur.Size()
	return o, nil
}

// retryingReader is an object opened through Retrying. It keeps the context of its Open, as
// io.ReaderAt takes none.
type retryingReader struct {
	r    *Retrying
	ctx  context.Context
	key  string
	size int64

	mu  sync.Mutex
	cur ObjectReader // nil after a failure until the next ReadAt opens the object again
}

func (o *retryingReader) Size() int64 { return o.size }

func (o *retryingReader) ReadAt(p []byte, off int64) (n int, err error) {
	err = o.r.do(o.ctx, func() error {
		cur, err := o.reader()
		if err != nil {
			return err
		}
		if n, err = cur.ReadAt(p, off); err != nil && err != io.EOF {
			o.drop(cur)
			return err
		}
		return nil
	})
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// reader is the open object, opened again after a failure.
func (o *retryingReader) reader() (ObjectReader, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == nil {
		cur, err := o.r.Store.Open(o.ctx, o.key)
		if err != nil {
			return nil, err
		}
		if cur.Size() != o.size { // replaced since the first Open: reading on would mix two objects
			return nil, errors.Join(fmt.Errorf("lake: %s changed while it was read", o.key), cur.Close())
		}
		o.cur = cur
	}
	return o.cur, nil
}

func (o *retryingReader) drop(cur ObjectReader) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == cur {
		cur.Close()
		o.cur = nil
	}
}

func (o *retryingReader) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur == nil {
		return nil
	}
	err := o.cur.Close()
	o.cur = nil
	return err
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
	v, err := r.Store.Version(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return Absent, fmt.Errorf("put %s: %w", key, ErrConflict)
	}
	if err != nil {
		return Absent, err
	}
	same, err := Holds(ctx, r.Store, key, write)
	if err != nil {
		return Absent, err
	}
	if !same {
		return Absent, fmt.Errorf("put %s: %w", key, ErrConflict)
	}
	return v, nil
}

// Version implements Store.
func (r *Retrying) Version(ctx context.Context, key string) (v Version, err error) {
	err = r.do(ctx, func() error { v, err = r.Store.Version(ctx, key); return err })
	return v, err
}
