package compactor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/notestream/notestream/internal/lake"
)

// ErrFenced is a unit's answer when an object it writes changed since the unit began to other bytes
// than it would write: this compactor lost the unit's lease while paused and a later run rewrote the
// object, which it must not overwrite.
var ErrFenced = errors.New("compactor: a lake object was rewritten with other rows since this unit began (this compactor lost its unit's lease); leaving it as it is")

// fence holds the versions a unit's objects had when the unit began, before it read anything: each
// of its writes is conditional on its object's, so a holder paused past its lease cannot overwrite
// what a successor or a later run wrote since.
//
// Versions follow the bytes (lake.Version), so an object that a later run brought back to the bytes it
// had when the unit began looks unchanged: each write first checks that state.json is still at the
// version the unit began with, which it is not once the unit's stage is committed (errStageOver).
// That leaves a holder paused between the check and the conditional write.
type fence struct {
	state    lake.Version
	versions map[string]lake.Version // Absent for a key that had no object
	prefixes []string                // listed whole: a key under one that is not in versions had no object
}

// takeFence returns state.json's version, then the versions of keys and of every object under
// prefixes, Uploads at a time: on a directory lake a version hashes the file.
func (c *Compactor) takeFence(ctx context.Context, keys []string, prefixes ...string) (*fence, error) {
	// First: objects a later run rewrote while this unit was paused here come with a new state.
	state, err := c.stateVersion(ctx)
	if err != nil {
		return nil, err
	}
	for _, prefix := range prefixes {
		listed, err := c.store.List(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		keys = append(keys, listed...)
	}
	f := &fence{state: state, versions: make(map[string]lake.Version, len(keys)), prefixes: prefixes}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Uploads)
	for _, key := range keys {
		g.Go(func() error {
			v, err := c.store.Version(gctx, key)
			if errors.Is(err, lake.ErrNotExist) {
				v, err = lake.Absent, nil // a listed object deleted since is absent too
			}
			if err != nil {
				return fmt.Errorf("version of %s: %w", key, err)
			}
			mu.Lock()
			f.versions[key] = v
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return f, nil
}

// version is key's version when the unit began. A key the fence did not take is a bug in the unit's
// list of what it writes.
func (f *fence) version(key string) (lake.Version, error) {
	if v, ok := f.versions[key]; ok {
		return v, nil
	}
	for _, prefix := range f.prefixes {
		if strings.HasPrefix(key, prefix) {
			return lake.Absent, nil
		}
	}
	return lake.Absent, fmt.Errorf("compactor: %s was not fenced when its unit began", key)
}

// putFenced writes objects, Uploads at a time, each conditional on its version in f.
func (c *Compactor) putFenced(ctx context.Context, f *fence, objs []object) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Uploads)
	for _, o := range objs {
		g.Go(func() error {
			v, err := f.version(o.key)
			if err != nil {
				return err
			}
			if err := c.stateAt(gctx, f.state); err != nil {
				return err
			}
			return putAt(gctx, c.store, o.key, v, o.write)
		})
	}
	return g.Wait()
}

// deleteFenced deletes key unless it changed since the unit began (ErrFenced); one gone already is
// done. The lake has no conditional delete: the check and the delete are two steps, so a holder that
// pauses between them can still delete a later run's object.
func (c *Compactor) deleteFenced(ctx context.Context, f *fence, key string) error {
	was, err := f.version(key)
	if err != nil {
		return err
	}
	if err := c.stateAt(ctx, f.state); err != nil {
		return err
	}
	v, err := c.store.Version(ctx, key)
	if errors.Is(err, lake.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("version of %s: %w", key, err)
	}
	if v != was {
		return fmt.Errorf("%w: %s", ErrFenced, key)
	}
	return c.store.Delete(ctx, key)
}

// putAt writes an object if it is still at version v. A conflict is success when the object already
// holds the bytes this write produces (a successor that took the unit over wrote them), ErrFenced
// otherwise.
func putAt(ctx context.Context, store lake.Store, key string, v lake.Version, write func(io.Writer) error) error {
	_, err := store.PutIf(ctx, key, v, write)
	if !errors.Is(err, lake.ErrConflict) {
		return err
	}
	same, herr := lake.Holds(ctx, store, key, write)
	if errors.Is(herr, lake.ErrNotExist) {
		// What the write reads is gone (a reduce's staged rows): the run was committed without it.
		return fmt.Errorf("%w: %s (%w)", ErrFenced, key, herr)
	}
	if herr != nil {
		return fmt.Errorf("%s: after a conflict: %w", key, herr)
	}
	if !same {
		return fmt.Errorf("%w: %s", ErrFenced, key)
	}
	return nil
}
