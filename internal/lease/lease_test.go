package lease

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/notestream/notestream/internal/lake"
)

const key = "_lease/lake.json"

func newStore(t *testing.T) lake.Store {
	t.Helper()
	d, err := lake.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func cfg(holder string, wait time.Duration) Config {
	return Config{TTL: 30 * time.Second, Wait: wait, Holder: holder, Logger: slog.New(slog.DiscardHandler)}
}

func acquire(t *testing.T, s lake.Store, c Config) *Lease {
	t.Helper()
	l, err := Acquire(context.Background(), s, key, c)
	if err != nil {
		t.Fatalf("acquire by %s: %v", c.Holder, err)
	}
	return l
}

func wantHeld(t *testing.T, err error, holder string) *HeldError {
	t.Helper()
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != holder {
		t.Fatalf("got %v, want the lease held by %s", err, holder)
	}
	return held
}

// TestHeldLeaseIsRenewedAndRefused: a holder keeps its lease for many TTLs by renewing it; others are
// refused at once with the holder and its expiry, then take it as soon as it is released.
func TestHeldLeaseIsRenewedAndRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t)
		a := acquire(t, s, cfg("a", 0))
		start := time.Now()
		for range 10 {
			time.Sleep(17 * time.Second)
			_, err := Acquire(context.Background(), s, key, cfg("b", 0))
			held := wantHeld(t, err, "a")
			if !held.Expires.After(time.Now()) || held.Expires.After(time.Now().Add(30*time.Second)) || held.Free != held.Expires.Add(5*time.Second) {
				t.Fatalf("at %v: %+v", time.Since(start), held)
			}
			if msg := err.Error(); !strings.Contains(msg, "lease _lease/lake.json is held by a since 2000-01-01T00:00:00Z, until ") {
				t.Fatalf("message %q", msg)
			}
		}
		if err := a.Context().Err(); err != nil {
			t.Fatalf("holder's context after %v: %v", time.Since(start), context.Cause(a.Context()))
		}
		if err := a.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
		if a.Context().Err() == nil {
			t.Fatal("context alive after Release")
		}
		b := acquire(t, s, cfg("b", 0))
		if time.Since(start) != 170*time.Second {
			t.Errorf("b waited %v", time.Since(start)-170*time.Second)
		}
		b.Release(context.Background())
	})
}

// TestWaitForRelease: a waiting Acquire takes the lease when its holder releases it, or gives up
// after its wait.
func TestWaitForRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t)
		a := acquire(t, s, cfg("a", 0))
		start := time.Now()
		_, err := Acquire(context.Background(), s, key, cfg("b", 20*time.Second))
		wantHeld(t, err, "a")
		if waited := time.Since(start); waited != 20*time.Second {
			t.Errorf("gave up after %v, want 20s", waited)
		}
		go func() { time.Sleep(50 * time.Second); a.Release(context.Background()) }()
		b := acquire(t, s, cfg("b", 10*time.Minute))
		if waited := time.Since(start); waited < 70*time.Second || waited > 71*time.Second {
			t.Errorf("took the released lease after %v, want 70s", waited)
		}
		b.Release(context.Background())
	})
}

// deadStore is a store a holder can no longer write to, like a crashed or cut-off process: its
// conditional writes fail (or, with block, hang until their context ends).
type deadStore struct {
	lake.Store
	dead  atomic.Bool
	block bool
}

func (d *deadStore) PutIf(ctx context.Context, key string, v lake.Version, write func(io.Writer) error) (lake.Version, error) {
	if d.dead.Load() {
		if d.block {
			<-ctx.Done()
			return lake.Absent, ctx.Err()
		}
		return lake.Absent, errors.New("connection refused")
	}
	return d.Store.PutIf(ctx, key, v, write)
}

// TestTakeoverAfterExpiry: a holder that cannot renew stops at its expiry, by its own clock; many
// successors waiting for it take the lease only after expiry plus margin, and exactly one of them.
func TestTakeoverAfterExpiry(t *testing.T) {
	for _, block := range []bool{false, true} {
		t.Run(fmt.Sprintf("block=%v", block), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newStore(t)
				dead := &deadStore{Store: s, block: block}
				a := acquire(t, dead, cfg("a", 0))
				time.Sleep(12 * time.Second) // one renewal
				dead.dead.Store(true)
				expires := a.Record().Expires
				var stopped time.Time
				go func() { <-a.Context().Done(); stopped = time.Now() }()

				var mu sync.Mutex
				var winners []*Lease
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Go(func() {
						// Each waits past the takeover; the losers then find the winner holding it.
						l, err := Acquire(context.Background(), s, key, cfg(fmt.Sprintf("successor %d", i), time.Minute))
						var held *HeldError
						switch {
						case err == nil:
							mu.Lock()
							winners = append(winners, l)
							mu.Unlock()
						case !errors.As(err, &held) || !strings.HasPrefix(held.Holder, "successor"):
							t.Errorf("successor %d: %v", i, err)
						}
					})
				}
				wg.Wait()
				if len(winners) != 1 {
					t.Fatalf("%d successors took the lease", len(winners))
				}
				took := winners[0].Record().Acquired
				var lost *LostError
				if !errors.As(context.Cause(a.Context()), &lost) || lost.By != "" || !lost.Expired.Equal(expires) {
					t.Fatalf("holder's context: %v", context.Cause(a.Context()))
				}
				if stopped.After(expires) || !took.After(expires.Add(5*time.Second)) || took.After(expires.Add(6*time.Second)) {
					t.Errorf("holder stopped at %v, successor took over at %v; expiry %v", stopped, took, expires)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				a.Release(ctx) // finds the lease taken (or cannot write): leaves it alone
				if _, err := Acquire(context.Background(), s, key, cfg("late", 0)); err == nil {
					t.Fatal("the crashed holder's Release freed its successor's lease")
				}
				winners[0].Release(context.Background())
			})
		})
	}
}

// TestSkewedSuccessor: a successor whose clock runs ahead by less than the margin still takes over
// only after the holder stopped.
func TestSkewedSuccessor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t)
		dead := &deadStore{Store: s, block: true}
		a := acquire(t, dead, cfg("a", 0))
		dead.dead.Store(true)
		ahead := cfg("b", time.Minute)
		ahead.Now = func() time.Time { return time.Now().Add(4 * time.Second) }
		b, err := Acquire(context.Background(), s, key, ahead)
		if err != nil {
			t.Fatal(err)
		}
		if a.Context().Err() == nil {
			t.Fatal("the successor took over while the holder still worked")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Release(ctx)
		b.Release(context.Background())
	})
}

// lossyStore loses the answer of the next PutIf that writes.
type lossyStore struct {
	lake.Store
	lose atomic.Bool
}

func (l *lossyStore) PutIf(ctx context.Context, key string, v lake.Version, write func(io.Writer) error) (lake.Version, error) {
	nv, err := l.Store.PutIf(ctx, key, v, write)
	if err == nil && l.lose.CompareAndSwap(true, false) {
		return lake.Absent, errors.New("connection reset")
	}
	return nv, err
}

// TestRenewalAfterLostAnswer: a renewal that landed with its answer lost is recognised by its token
// at the next renewal; the holder keeps the lease.
func TestRenewalAfterLostAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &lossyStore{Store: newStore(t)}
		a := acquire(t, s, cfg("a", 0))
		s.lose.Store(true)
		time.Sleep(5 * time.Minute)
		if a.Context().Err() != nil {
			t.Fatalf("holder lost its lease: %v", context.Cause(a.Context()))
		}
		if s.lose.Load() {
			t.Fatal("no renewal happened")
		}
		_, err := Acquire(context.Background(), s, key, cfg("b", 0))
		wantHeld(t, err, "a")
		if err := a.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
		acquire(t, s, cfg("b", 0)).Release(context.Background())
	})
}

// TestTakenOverWhilePaused: a holder whose lease was taken over (it was paused past its expiry)
// learns it at its next renewal, with the new holder named.
func TestTakenOverWhilePaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t)
		a := acquire(t, s, cfg("a", 0))
		future := cfg("b", 0)
		future.Now = func() time.Time { return time.Now().Add(time.Hour) } // b sees a's lease long expired
		b, err := Acquire(context.Background(), s, key, future)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(11 * time.Second)
		var lost *LostError
		if !errors.As(context.Cause(a.Context()), &lost) || lost.By != "b" || !strings.Contains(lost.Error(), "lease _lease/lake.json lost: taken over by b") {
			t.Fatalf("a after b took over: %v", context.Cause(a.Context()))
		}
		a.Release(context.Background())
		if b.Context().Err() != nil || b.Record().Released {
			t.Fatal("a's Release touched b's lease")
		}
		b.Release(context.Background())
	})
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{TTL: time.Second, Renew: time.Second}, {TTL: -time.Second}, {Wait: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	c := Config{}
	if err := c.Validate(); err != nil || c.TTL != 30*time.Second || c.Renew != 10*time.Second || c.Margin != 5*time.Second || c.Poll != time.Second {
		t.Errorf("defaults %+v, %v", c, err)
	}
}

// TestCheckAndAwaitFree: Check names the holder of a held lease and nothing of a free, released or
// missing one; AwaitFree waits up to Wait for it; a dropped lease stays held until its expiry.
func TestCheckAndAwaitFree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		if err := Check(ctx, s, key, cfg("b", 0)); err != nil {
			t.Fatalf("check of a missing lease: %v", err)
		}
		a := acquire(t, s, cfg("a", 0))
		wantHeld(t, Check(ctx, s, key, cfg("b", 0)), "a")
		start := time.Now()
		wantHeld(t, AwaitFree(ctx, s, key, cfg("b", 10*time.Second)), "a")
		if waited := time.Since(start); waited != 10*time.Second {
			t.Fatalf("AwaitFree gave up after %v, want 10s", waited)
		}
		go func() { time.Sleep(5 * time.Second); a.Release(ctx) }()
		start = time.Now()
		if err := AwaitFree(ctx, s, key, cfg("b", time.Minute)); err != nil || time.Since(start) > 6*time.Second {
			t.Fatalf("AwaitFree of a lease released after 5s: %v after %v", err, time.Since(start))
		}
		if err := Check(ctx, s, key, cfg("b", 0)); err != nil {
			t.Fatalf("check of a released lease: %v", err)
		}
		c := acquire(t, s, cfg("c", 0))
		c.Drop()
		c.Release(ctx) // writes nothing after Drop
		expires := c.Record().Expires
		wantHeld(t, Check(ctx, s, key, cfg("b", 0)), "c")
		time.Sleep(time.Until(expires.Add(cfg("b", 0).TTL/6 + time.Second)))
		if err := Check(ctx, s, key, cfg("b", 0)); err != nil {
			t.Fatalf("check of a dropped lease past its expiry: %v", err)
		}
	})
}
