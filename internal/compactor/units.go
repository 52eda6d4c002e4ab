package compactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/lease"
)

// UnitLeasePrefix holds the leases of the units of every run in flight: _lease/run-<R>/<unit>.json.
const UnitLeasePrefix = "_lease/"

// runStatePrefix holds every run's plan and done markers: _state/run-<R>/.
const runStatePrefix = "_state/run-"

func runState(run int64) string { return fmt.Sprintf("%s%d/", runStatePrefix, run) }

// planKey is run's plan, one key per run number: a stale plan is never deleted over a new one.
func planKey(run int64) string { return runState(run) + "plan.json" }

// doneKey is a unit's done marker, which holds what later stages need of it.
func doneKey(run int64, unit string) string { return runState(run) + "done/" + unit + ".json" }

func unitLeaseKey(run int64, unit string) string {
	return fmt.Sprintf("%srun-%d/%s.json", UnitLeasePrefix, run, unit)
}

// errStageOver means that state.json moved past the version a stage belongs to: another compactor
// committed the stage, and this one reads the state again and goes on from there.
var errStageOver = errors.New("compactor: another compactor committed this stage")

// stage is a set of units of one run that any compactor of the lake may do, each once, in any order.
type stage struct {
	run   int64
	units []string
	state lake.Version // state.json's version the stage belongs to: the stage is over once it changes
	// do does a unit under its lease's context and returns its done marker, the same bytes whoever
	// does it.
	do func(ctx context.Context, unit string) ([]byte, error)
	// slots holds one token per unit being leased or done, up to Parallel: see runStage.
	slots chan struct{}
}

// runStage does the stage's units, alongside any other compactor doing the same stage, and returns
// every unit's done marker. A worker takes the first unit that is neither done nor leased, so
// compactors share the units; a held one is never waited on while others are free. When only held
// units remain it polls them, and takes over one whose holder stopped renewing.
//
// Twice Parallel workers take units, Parallel of them at a time from taking a unit's lease to the
// end of its work: the others meanwhile sync their unit's output and write its done marker, an fsync
// or two on a directory lake and a round trip on S3, which one worker per slot would leave its core
// idle for. A compactor takes no more units to do than it has slots, so others find the rest free.
func (c *Compactor) runStage(ctx context.Context, s stage) (map[string][]byte, error) {
	s.slots = make(chan struct{}, c.cfg.Parallel)
	var errs stageErrors
	var mu sync.Mutex
	done := map[string][]byte{}
	mine := map[string]bool{} // units this compactor's workers are doing
	g, gctx := errgroup.WithContext(ctx)
	work := func() error {
		for {
			held := false // by another compactor: poll it (a sibling worker's is its own)
			for _, u := range s.units {
				mu.Lock()
				skip := mine[u] || done[u] != nil
				if !skip {
					mine[u] = true
				}
				mu.Unlock()
				if skip {
					continue
				}
				marker, err := c.tryUnit(gctx, s, u)
				mu.Lock()
				delete(mine, u)
				if marker != nil {
					done[u] = marker
				}
				mu.Unlock()
				if err != nil {
					return err
				}
				held = held || marker == nil
			}
			if !held {
				return nil
			}
			select {
			case <-gctx.Done():
				return context.Cause(gctx)
			case <-time.After(c.cfg.Lease.Poll):
			}
		}
	}
	for range min(2*c.cfg.Parallel, len(s.units)) {
		g.Go(func() error { return errs.add(work()) })
	}
	if err := g.Wait(); err != nil {
		return nil, errs.first()
	}
	return done, nil
}

// stageErrors collects the errors of a stage's workers: once one fails the others stop, with
// context.Canceled, or find the stage committed (errStageOver) by the successor of a paused one, and
// neither may hide the error that stopped the stage, such as ErrFenced.
type stageErrors struct {
	mu   sync.Mutex
	errs []error
}

func (e *stageErrors) add(err error) error {
	if err != nil {
		e.mu.Lock()
		e.errs = append(e.errs, err)
		e.mu.Unlock()
	}
	return err
}

// first returns the first error that is neither errStageOver nor context.Canceled, else the first.
func (e *stageErrors) first() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, err := range e.errs {
		if !errors.Is(err, errStageOver) && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	for _, err := range e.errs {
		if errors.Is(err, errStageOver) {
			return err
		}
	}
	return e.errs[0]
}

// tryUnit returns the unit's done marker, doing the unit if it is not done and its lease is free; nil
// if another compactor holds it.
func (c *Compactor) tryUnit(ctx context.Context, s stage, unit string) ([]byte, error) {
	if m, err := c.doneMarker(ctx, s.run, unit); m != nil || err != nil {
		return m, err
	}
	if err := c.stageCurrent(ctx, s); err != nil {
		return nil, err
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	var freeSlot sync.Once
	free := func() { freeSlot.Do(func() { <-s.slots }) }
	defer free()
	cfg := c.cfg.Lease
	cfg.Wait = 0
	l, err := lease.Acquire(ctx, c.store, unitLeaseKey(s.run, unit), cfg)
	var held *lease.HeldError
	if errors.As(err, &held) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	marker, err := c.leasedUnit(l.Context(), s, unit, free)
	if err == nil {
		// Nobody asks for a done unit's lease again.
		l.Drop()
		return marker, nil
	}
	var lost *lease.LostError
	if errors.As(context.Cause(l.Context()), &lost) {
		err = fmt.Errorf("%w (stopped: %w)", lost, err)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return marker, errors.Join(err, l.Release(rctx))
}

// leasedUnit does a unit whose lease this compactor holds, unless its previous holder finished it
// meanwhile or a backfill holds the lake, and writes its done marker before the lease is released.
// It frees its slot once the unit's work is done.
func (c *Compactor) leasedUnit(ctx context.Context, s stage, unit string, free func()) ([]byte, error) {
	if m, err := c.doneMarker(ctx, s.run, unit); m != nil || err != nil {
		return m, err
	}
	// After the unit's lease is taken, as a backfill checks the unit leases after taking the lake's:
	// of a unit and a backfill begun together, one sees the other.
	if err := lease.Check(ctx, c.store, LeaseKey, c.cfg.Lease); err != nil {
		return nil, err
	}
	// Again under the lease, as the wait for a slot may be long: a unit begun once its stage is over
	// would take its fence on a later run's objects and overwrite them.
	if err := c.stageCurrent(ctx, s); err != nil {
		return nil, err
	}
	marker, err := s.do(ctx, unit)
	free()
	if err != nil {
		// A unit whose stage another compactor committed meanwhile may find its inputs gone (a
		// reduce's staged objects); that is no failure of the run. Fencing is: it is reported.
		if !errors.Is(err, ErrFenced) && errors.Is(c.stageCurrent(ctx, s), errStageOver) {
			return nil, errStageOver
		}
		return nil, fmt.Errorf("%s: %w", unit, err)
	}
	// What the unit wrote is durable before the marker that says so.
	if err := c.store.Sync(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", unit, err)
	}
	_, err = c.store.PutIf(ctx, doneKey(s.run, unit), lake.Absent, func(w io.Writer) error { _, err := w.Write(marker); return err })
	if errors.Is(err, lake.ErrConflict) {
		// A holder that lost the unit to this one while paused finished it too; either marker is
		// the unit's.
		return c.doneMarker(ctx, s.run, unit)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: done marker: %w", unit, err)
	}
	c.tally(func(sum *Summary) { sum.Units++ })
	c.log.Debug("unit done", "run", s.run, "unit", unit)
	return marker, nil
}

// doneMarker returns a unit's done marker, nil if it is not done.
func (c *Compactor) doneMarker(ctx context.Context, run int64, unit string) ([]byte, error) {
	m, err := c.store.Get(ctx, doneKey(run, unit))
	if errors.Is(err, lake.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read done marker of %s: %w", unit, err)
	}
	return m, nil
}

// stageCurrent returns errStageOver if state.json is no longer at the stage's version.
func (c *Compactor) stageCurrent(ctx context.Context, s stage) error { return c.stateAt(ctx, s.state) }

// stateAt returns errStageOver if state.json is no longer at version v.
func (c *Compactor) stateAt(ctx context.Context, v lake.Version) error {
	now, err := c.stateVersion(ctx)
	if err != nil {
		return err
	}
	if now != v {
		return errStageOver
	}
	return nil
}

// stateVersion is state.json's version, Absent before the first commit.
func (c *Compactor) stateVersion(ctx context.Context) (lake.Version, error) {
	v, err := c.store.Version(ctx, StateKey)
	if errors.Is(err, lake.ErrNotExist) {
		return lake.Absent, nil
	}
	if err != nil {
		return lake.Absent, fmt.Errorf("read state version: %w", err)
	}
	return v, nil
}

// cleanRuns deletes what finished runs left behind: their plans, done markers and unit leases, and
// the staging of committed runs. The runs up to st.Run are finished unless days are pending, which
// leaves st.Run's rebuild to finish.
func (c *Compactor) cleanRuns(ctx context.Context, st *State) error {
	if err := c.cleanStaging(ctx, st.Run); err != nil {
		return err
	}
	finished := st.Run
	if len(st.Pending) > 0 || st.Users {
		finished--
	}
	var old []string
	for _, prefix := range []string{runStatePrefix, UnitLeasePrefix + "run-"} {
		keys, err := c.store.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, key := range keys {
			var r int64
			if _, err := fmt.Sscanf(strings.TrimPrefix(key, prefix), "%d/", &r); err == nil && r <= finished {
				old = append(old, key)
			}
		}
	}
	// The single plan of a compactor from before plans per run.
	if b, err := c.store.Get(ctx, PlanKey); err == nil {
		var p Plan
		if json.Unmarshal(b, &p) != nil || p.Run <= st.Run {
			old = append(old, PlanKey)
		}
	}
	return c.deleteAll(ctx, old)
}

// checkNoUnitHeld returns the *lease.HeldError of a unit lease that a run's compactor holds.
func (c *Compactor) checkNoUnitHeld(ctx context.Context) error {
	keys, err := c.store.List(ctx, UnitLeasePrefix)
	if err != nil {
		return fmt.Errorf("list unit leases: %w", err)
	}
	for _, key := range keys {
		if err := lease.Check(ctx, c.store, key, c.cfg.Lease); err != nil {
			return err
		}
	}
	return nil
}

// tally adds to the summary of this compactor's work, which the stage workers share.
func (c *Compactor) tally(f func(*Summary)) {
	c.sumMu.Lock()
	defer c.sumMu.Unlock()
	f(&c.sum)
}
