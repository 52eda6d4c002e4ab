package compactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/lease"
)

// commitLog records which compactor committed each run number to state.json.
type commitLog struct {
	lake.Store
	who string
	mu  *sync.Mutex
	log map[int64][]string
}

func (c *commitLog) PutIf(ctx context.Context, key string, v lake.Version, write func(io.Writer) error) (lake.Version, error) {
	nv, err := c.Store.PutIf(ctx, key, v, write)
	if err == nil && key == StateKey {
		var buf strings.Builder
		write(&buf)
		var st State
		if err := json.Unmarshal([]byte(buf.String()), &st); err != nil {
			return nv, err
		}
		c.mu.Lock()
		if len(st.Pending) > 0 || st.Users { // the commit of offsets, not the one after the rebuild
			c.log[st.Run] = append(c.log[st.Run], c.who)
		}
		c.mu.Unlock()
	}
	return nv, err
}

// TestOverlappingRuns starts two runs together against one source and one lake: without --wait the
// second is refused with the holder named; with it, it runs after the first and finds nothing to do.
// Either way each run number is committed once and the lake equals a single run's.
func TestOverlappingRuns(t *testing.T) {
	ds := genData(6, 150, 15, 1500)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	cleanDir := t.TempDir()
	clean, _ := lake.NewDir(cleanDir)
	run(t, clean, src)
	want := snapshot(t, cleanDir)

	for _, wait := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprintf("wait=%v", wait), func(t *testing.T) {
			dir := t.TempDir()
			base, _ := lake.NewDir(dir)
			var mu sync.Mutex
			commits := map[int64][]string{}
			errs := make([]error, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 2 {
				who := fmt.Sprintf("compactor %d", i)
				store := &commitLog{Store: base, who: who, mu: &mu, log: commits}
				c, err := New(Config{Chunk: 3000, Logger: slog.New(slog.DiscardHandler), Lease: lease.Config{Holder: who, Wait: wait}}, store, src)
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					<-start
					_, errs[i] = c.Run(context.Background())
				})
			}
			close(start)
			wg.Wait()
			var held *lease.HeldError
			switch {
			case wait == 0 && (errs[0] == nil) == (errs[1] == nil):
				t.Fatalf("want one run refused: %v, %v", errs[0], errs[1])
			case wait == 0 && !errors.As(errors.Join(errs...), &held):
				t.Fatalf("the refused run: %v", errors.Join(errs...))
			case wait == 0 && (!strings.HasPrefix(held.Holder, "compactor ") || !strings.Contains(errors.Join(errs...).Error(), "until ")):
				t.Fatalf("refusal names no holder and expiry: %v", errors.Join(errs...))
			case wait > 0 && errors.Join(errs...) != nil:
				t.Fatalf("runs: %v", errors.Join(errs...))
			}
			if len(commits) != 1 || len(commits[1]) != 1 {
				t.Errorf("commits per run number: %v, want run 1 committed once", commits)
			}
			diffSnapshots(t, snapshot(t, dir), want)
		})
	}
}

// pausingStore blocks the first staging write until resume is closed: a holder paused (GC, SIGSTOP)
// mid-run, before it has written any data.
type pausingStore struct {
	lake.Store
	once   sync.Once
	paused chan struct{}
	resume chan struct{}
}

func (p *pausingStore) Put(ctx context.Context, key string, write func(io.Writer) error) error {
	if strings.HasPrefix(key, StagingPrefix) {
		p.once.Do(func() { close(p.paused); <-p.resume })
	}
	return p.Store.Put(ctx, key, write)
}

// TestPausedHolderCannotCommit: a holder paused mid-run until a successor took its expired lease and
// finished the run resumes without noticing (its renewal is not due yet); its commit of state.json,
// conditional on the version it read, fails with ErrStateChanged, and the lake is the successor's.
func TestPausedHolderCannotCommit(t *testing.T) {
	ds := genData(7, 150, 15, 1500)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	cleanDir := t.TempDir()
	clean, _ := lake.NewDir(cleanDir)
	run(t, clean, src)
	want := snapshot(t, cleanDir)

	dir := t.TempDir()
	base, _ := lake.NewDir(dir)
	paused := &pausingStore{Store: base, paused: make(chan struct{}), resume: make(chan struct{})}
	a, err := New(Config{Chunk: 3000, Logger: slog.New(slog.DiscardHandler), Lease: lease.Config{Holder: "paused", TTL: time.Minute}}, paused, src)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { _, err := a.Run(context.Background()); done <- err }()
	<-paused.paused
	if _, err := acquireAsThird(base); err == nil {
		t.Fatal("the paused holder's lease was free")
	}
	sum, err := successor(t, base, src).Run(context.Background())
	if err != nil || !sum.Resumed || sum.Run != 1 {
		t.Fatalf("successor: %+v %v, want run 1 resumed", sum, err)
	}
	close(paused.resume)
	err = <-done
	if !errors.Is(err, ErrStateChanged) || !strings.Contains(err.Error(), "commit offsets: compactor: another compactor committed state.json since this run read it") {
		t.Fatalf("the paused holder's run: %v, want ErrStateChanged", err)
	}
	// What the paused holder staged after the successor's commit is staging of a committed run, which
	// the next run deletes; readers never see it.
	got := snapshot(t, dir)
	for k := range got {
		if strings.HasPrefix(k, StagingPrefix) {
			if !strings.HasPrefix(k, StagingPrefix+"run-1/") {
				t.Errorf("staged by the paused holder: %s, want only run 1's", k)
			}
			delete(got, k)
		}
	}
	diffSnapshots(t, got, want)
}

// acquireAsThird tries the lake's lease as a third compactor would.
func acquireAsThird(s lake.Store) (*lease.Lease, error) {
	return lease.Acquire(context.Background(), s, LeaseKey, lease.Config{Holder: "third", Logger: slog.New(slog.DiscardHandler)})
}
