package compactor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/lease"
)

// LeaseKey is the lake's lease: a backfill holds it from start to end, and runs do no unit while it is
// held (internal/lease). Runs share the lake through their units' leases instead (UnitLeasePrefix).
const LeaseKey = "_state/lease.json"

// ErrStateChanged is the commit's answer when state.json is no longer the version this compactor read:
// another compactor committed meanwhile (the stage's winner, or a successor of this one paused past its
// lease), and this commit is discarded. A run reads the state again and goes on.
var ErrStateChanged = errors.New("compactor: another compactor committed state.json since this one read it; this commit is discarded")

// leased runs f under the lake's lease, with a context that ends when the lease is lost.
func (c *Compactor) leased(ctx context.Context, f func(context.Context) (Summary, error)) (Summary, error) {
	l, err := lease.Acquire(ctx, c.store, LeaseKey, c.cfg.Lease)
	if err != nil {
		return Summary{}, err
	}
	sum, err := f(l.Context())
	var lost *lease.LostError
	if errors.As(context.Cause(l.Context()), &lost) && err != nil {
		err = fmt.Errorf("%w (stopped: %w)", lost, err)
	}
	// A run ended by SIGTERM still releases: with a context of its own.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return sum, errors.Join(err, l.Release(rctx))
}

// commitState writes st to state.json if it is still at version v, the one this run read, and returns
// the new version.
func (c *Compactor) commitState(ctx context.Context, v lake.Version, write func(w io.Writer) error) (lake.Version, error) {
	nv, err := c.store.PutIf(ctx, StateKey, v, write)
	if errors.Is(err, lake.ErrConflict) {
		return lake.Absent, fmt.Errorf("%w: %w", ErrStateChanged, err)
	}
	return nv, err
}
