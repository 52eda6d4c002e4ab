// Package lease holds a lease on a key of the lake by conditional writes, so that one holder at a time
// does the work the key names.
//
// A lease is one small JSON object (Record) that names its holder, a token unique to one Acquire, and
// an expiry. Acquire creates it if absent, or replaces an expired or released one by compare-and-swap
// on the version it read, so of two successors only one takes it. The holder renews it every Renew by
// compare-and-swap on its own last version; when it cannot renew before the expiry it last wrote, its
// Context is cancelled, and it must stop. Release marks the record released (compare-and-swap too, so
// it never clobbers a successor's). The key is the caller's: one for the whole lake, or one per unit
// of work.
//
// Clock assumption: the expiry is wall time, written by the holder from its own clock. The holder stops
// at that expiry by its own clock; others take over only once their clock is past expiry plus Margin.
// That is safe as long as clocks differ by less than Margin minus the time a write started just before
// expiry takes to land (NTP keeps servers within milliseconds; Margin defaults to TTL/6, 5 s at the
// default TTL). A holder paused for longer than that (GC, SIGSTOP, a VM migration) can still act once
// before it notices, so the work it guards must commit by compare-and-swap too.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/notestream/notestream/internal/lake"
)

// Config configures a lease. Zero values take the defaults.
type Config struct {
	TTL    time.Duration    // how long a write keeps the lease; default 30s
	Renew  time.Duration    // how often the holder renews; default TTL/3
	Margin time.Duration    // how long past expiry others wait before taking over, a bound on clock skew; default TTL/6
	Wait   time.Duration    // how long Acquire waits for a held lease before it gives up; 0: not at all
	Poll   time.Duration    // how often a waiting Acquire looks again, and a failed renewal is retried; default TTL/10, at most 1s
	Holder string           // who holds it, for messages; default "<host> pid <pid>"
	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// Validate fills in defaults and rejects impossible settings.
func (c *Config) Validate() error {
	if c.TTL == 0 {
		c.TTL = 30 * time.Second
	}
	if c.Renew == 0 {
		c.Renew = c.TTL / 3
	}
	if c.Margin == 0 {
		c.Margin = c.TTL / 6
	}
	if c.Poll == 0 {
		c.Poll = min(c.TTL/10, time.Second)
	}
	if c.Holder == "" {
		host, _ := os.Hostname()
		c.Holder = fmt.Sprintf("%s pid %d", host, os.Getpid())
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.TTL < 0:
		return errors.New("lease: TTL must be positive")
	case c.Renew <= 0 || c.Renew >= c.TTL:
		return fmt.Errorf("lease: renewal interval %s must be positive and below the TTL %s", c.Renew, c.TTL)
	case c.Margin < 0 || c.Wait < 0 || c.Poll < 0:
		return errors.New("lease: margin, wait and poll must not be negative")
	}
	return nil
}

// Record is a lease object's content.
type Record struct {
	Holder   string    `json:"holder"`
	Token    string    `json:"token"` // unique to one Acquire: tells the holder's own writes from others'
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
	Released bool      `json:"released,omitempty"`
}

// free says whether others may take the lease at now.
func (r *Record) free(now time.Time, margin time.Duration) bool {
	return r.Released || now.After(r.Expires.Add(margin))
}

func (r Record) write(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func decode(key string, b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("lease: decode %s (delete it if no holder runs): %w", key, err)
	}
	return r, nil
}

// HeldError is Acquire's answer when another holder has the lease.
type HeldError struct {
	Key      string
	Holder   string
	Acquired time.Time
	Expires  time.Time // unless renewed
	Free     time.Time // when others may take it over if it is not renewed: Expires plus Margin
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("lease %s is held by %s since %s, until %s unless renewed (free to take over from %s)",
		e.Key, e.Holder, e.Acquired.UTC().Format(time.RFC3339), e.Expires.UTC().Format(time.RFC3339), e.Free.UTC().Format(time.RFC3339))
}

// LostError is the cause of a lease Context's cancellation when the lease is no longer the holder's.
type LostError struct {
	Key     string
	Expired time.Time // the expiry the holder last wrote
	By      string    // the holder that took it over; "" if the holder could not renew in time
	Err     error     // the last renewal's error, when By is ""
}

func (e *LostError) Error() string {
	if e.By != "" {
		return fmt.Sprintf("lease %s lost: taken over by %s", e.Key, e.By)
	}
	return fmt.Sprintf("lease %s lost: not renewed before it expired at %s: %v", e.Key, e.Expired.UTC().Format(time.RFC3339), e.Err)
}

func (e *LostError) Unwrap() error { return e.Err }

// errReleased is the cause of a released lease's Context.
var errReleased = errors.New("lease: released")

// Lease is a held lease, renewed until Release.
type Lease struct {
	store lake.Store
	key   string
	cfg   Config

	mu      sync.Mutex // rec and version: the renewing goroutine's, then Release's
	rec     Record
	version lake.Version

	ctx     context.Context
	cancel  context.CancelCauseFunc
	renewed chan struct{} // closed when the renewing goroutine returns

	release    sync.Once
	releaseErr error
}

// Acquire takes the lease at key, waiting up to cfg.Wait while another holder has it; then it fails
// with a *HeldError. The lease is renewed in the background until Release, which the caller must call.
func Acquire(ctx context.Context, store lake.Store, key string, cfg Config) (*Lease, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	giveUp := cfg.Now().Add(cfg.Wait)
	waiting := false
	for {
		l, held, err := try(ctx, store, key, token, cfg)
		if err != nil || l != nil {
			return l, err
		}
		now := cfg.Now()
		if !now.Before(giveUp) {
			return nil, held
		}
		if !waiting {
			cfg.Logger.Info("waiting for the lease", "key", key, "holder", held.Holder, "expires", held.Expires, "wait", cfg.Wait)
			waiting = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %w: %w", held, context.Cause(ctx))
		case <-time.After(min(cfg.Poll, giveUp.Sub(now))):
		}
	}
}

// Check returns the *HeldError of the holder that has the lease at key, or nil if it is free or has
// never been taken: for work that must not overlap the key's holder but does not take the key itself.
func Check(ctx context.Context, store lake.Store, key string, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, _, err := store.GetVersion(ctx, key)
	if errors.Is(err, lake.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lease: read %s: %w", key, err)
	}
	r, err := decode(key, b)
	if err != nil {
		return err
	}
	if r.free(cfg.Now(), cfg.Margin) {
		return nil
	}
	return &HeldError{Key: key, Holder: r.Holder, Acquired: r.Acquired, Expires: r.Expires, Free: r.Expires.Add(cfg.Margin)}
}

// AwaitFree waits up to cfg.Wait while another holder has the lease at key (Check), then fails with
// its *HeldError.
func AwaitFree(ctx context.Context, store lake.Store, key string, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	giveUp := cfg.Now().Add(cfg.Wait)
	for waiting := false; ; waiting = true {
		err := Check(ctx, store, key, cfg)
		var held *HeldError
		if !errors.As(err, &held) {
			return err
		}
		now := cfg.Now()
		if !now.Before(giveUp) {
			return held
		}
		if !waiting {
			cfg.Logger.Info("waiting for the lease to be free", "key", key, "holder", held.Holder, "expires", held.Expires, "wait", cfg.Wait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %w: %w", held, context.Cause(ctx))
		case <-time.After(min(cfg.Poll, giveUp.Sub(now))):
		}
	}
}

// try takes the lease if it is free: a *Lease, or the *HeldError of the holder that has it.
func try(ctx context.Context, store lake.Store, key, token string, cfg Config) (*Lease, *HeldError, error) {
	b, v, err := store.GetVersion(ctx, key)
	var prev *Record
	switch {
	case errors.Is(err, lake.ErrNotExist):
		v = lake.Absent
	case err != nil:
		return nil, nil, fmt.Errorf("lease: read %s: %w", key, err)
	default:
		r, err := decode(key, b)
		if err != nil {
			return nil, nil, err
		}
		if !r.free(cfg.Now(), cfg.Margin) {
			return nil, &HeldError{Key: key, Holder: r.Holder, Acquired: r.Acquired, Expires: r.Expires, Free: r.Expires.Add(cfg.Margin)}, nil
		}
		prev = &r
	}
	now := cfg.Now()
	rec := Record{Holder: cfg.Holder, Token: token, Acquired: now, Expires: now.Add(cfg.TTL)}
	nv, err := store.PutIf(ctx, key, v, rec.write)
	if errors.Is(err, lake.ErrConflict) {
		return try(ctx, store, key, token, cfg) // another successor was first: see who
	}
	if err != nil {
		return nil, nil, fmt.Errorf("lease: take %s: %w", key, err)
	}
	if prev != nil && !prev.Released {
		cfg.Logger.Warn("took over an expired lease", "key", key, "from", prev.Holder, "expired", prev.Expires)
	}
	l := &Lease{store: store, key: key, cfg: cfg, rec: rec, version: nv, renewed: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancelCause(ctx)
	go l.renew()
	return l, nil, nil
}

// Context is cancelled when the lease is released or lost, with a *LostError as its cause
// (context.Cause) when lost. Work the lease guards runs under it.
func (l *Lease) Context() context.Context { return l.ctx }

// Record returns the lease as last written.
func (l *Lease) Record() Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec
}

// renew renews the lease every Renew, retrying failures every Poll, until the lease's context ends or
// its expiry passes without a successful renewal.
func (l *Lease) renew() {
	defer close(l.renewed)
	next := l.cfg.Renew
	var lastErr error
	for {
		l.mu.Lock()
		expires := l.rec.Expires
		l.mu.Unlock()
		expiry := time.NewTimer(expires.Sub(l.cfg.Now()))
		tick := time.NewTimer(next)
		select {
		case <-l.ctx.Done():
		case <-expiry.C:
			l.cancel(&LostError{Key: l.key, Expired: expires, Err: lastErr})
		case <-tick.C:
		}
		expiry.Stop()
		tick.Stop()
		if l.ctx.Err() != nil {
			return
		}
		// A renewal that cannot land before the expiry is too late anyway.
		rctx, cancel := context.WithTimeout(l.ctx, expires.Sub(l.cfg.Now()))
		lastErr = l.renewOnce(rctx)
		cancel()
		var lost *LostError
		switch {
		case errors.As(lastErr, &lost):
			l.cancel(lost)
			return
		case lastErr != nil:
			l.cfg.Logger.Warn("lease renewal failed; retrying", "key", l.key, "expires", expires, "err", lastErr)
			next = l.cfg.Poll
		default:
			next = l.cfg.Renew
		}
	}
}

func (l *Lease) renewOnce(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.rec
	rec.Expires = l.cfg.Now().Add(l.cfg.TTL)
	nv, err := l.store.PutIf(ctx, l.key, l.version, rec.write)
	if errors.Is(err, lake.ErrConflict) {
		return l.adoptOwn(ctx)
	}
	if err != nil {
		return err
	}
	l.rec, l.version = rec, nv
	return nil
}

// adoptOwn handles a conflict: the lease still carries the holder's token when an earlier write
// landed with its answer lost; otherwise another holder took it. l.mu is held.
func (l *Lease) adoptOwn(ctx context.Context) error {
	b, v, err := l.store.GetVersion(ctx, l.key)
	if errors.Is(err, lake.ErrNotExist) {
		return &LostError{Key: l.key, Expired: l.rec.Expires, By: "nobody (the lease object was deleted)"}
	}
	if err != nil {
		return err
	}
	cur, err := decode(l.key, b)
	if err != nil {
		return err
	}
	if cur.Token != l.rec.Token || cur.Released {
		return &LostError{Key: l.key, Expired: l.rec.Expires, By: cur.Holder}
	}
	l.rec, l.version = cur, v
	return nil
}

// Drop stops renewing without marking the lease released: it expires at its last expiry. For a lease
// whose work is recorded as done elsewhere, so that nobody asks for it again, Drop saves Release's
// write. A later Release writes nothing.
func (l *Lease) Drop() {
	l.release.Do(func() {
		l.cancel(errReleased)
		<-l.renewed
	})
}

// Release stops renewing and marks the lease released so that the next holder need not wait for its
// expiry. A lease lost meanwhile is left to its new holder. Release is idempotent.
func (l *Lease) Release(ctx context.Context) error {
	l.release.Do(func() {
		l.cancel(errReleased)
		<-l.renewed
		var lost *LostError
		if errors.As(context.Cause(l.ctx), &lost) && lost.By != "" {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		rec := l.rec
		rec.Released, rec.Expires = true, l.cfg.Now()
		_, err := l.store.PutIf(ctx, l.key, l.version, rec.write)
		if errors.Is(err, lake.ErrConflict) {
			if err = l.adoptOwn(ctx); err == nil { // our renewal had landed: release that version
				_, err = l.store.PutIf(ctx, l.key, l.version, rec.write)
			}
		}
		var lostNow *LostError
		if errors.As(err, &lostNow) || errors.Is(err, lake.ErrConflict) {
			err = nil // someone else's now
		}
		if err != nil {
			l.releaseErr = fmt.Errorf("lease: release %s (it expires at %s anyway): %w", l.key, l.rec.Expires.UTC().Format(time.RFC3339), err)
		}
	})
	return l.releaseErr
}
