package compactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
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

// TestOverlappingRuns starts two runs together against one source and one lake: they join one run
// and share its units. Each run number is committed once, both did units, every record was read
// once, and the lake equals a single run's.
func TestOverlappingRuns(t *testing.T) {
	src, _, want := cleanLake(t, genData(6, 150, 15, 1500))
	dir := t.TempDir()
	base, _ := lake.NewDir(dir)
	var mu sync.Mutex
	commits := map[int64][]string{}
	sums := make([]Summary, 2)
	errs := make([]error, 2)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 2 {
		who := fmt.Sprintf("compactor %d", i)
		store := &commitLog{Store: base, who: who, mu: &mu, log: commits}
		c, err := New(Config{Chunk: 3000, Logger: slog.New(slog.DiscardHandler), Lease: lease.Config{Holder: who}}, store, src)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			sums[i], errs[i] = c.Run(context.Background())
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("runs: %v", err)
	}
	if len(commits) != 1 || len(commits[1]) != 1 {
		t.Errorf("commits per run number: %v, want run 1 committed once", commits)
	}
	var records int64
	for i, sum := range sums {
		if sum.Units == 0 || sum.Run != 1 {
			t.Errorf("compactor %d: %+v, want units of run 1", i, sum)
		}
		records += sum.Records
	}
	if want := src.records(); records != want {
		t.Errorf("the compactors read %d records, the topics hold %d", records, want)
	}
	diffSnapshots(t, snapshot(t, dir), want)
}

// pausingStore blocks the first staging write until resume is closed: a holder paused (GC, SIGSTOP)
// mid-run, before it has written any data. key is the staged object it paused at.
type pausingStore struct {
	lake.Store
	once   sync.Once
	key    string
	paused chan struct{}
	resume chan struct{}
}

func (p *pausingStore) Put(ctx context.Context, key string, write func(io.Writer) error) error {
	if strings.HasPrefix(key, StagingPrefix) {
		p.once.Do(func() { p.key = key; close(p.paused); <-p.resume })
	}
	return p.Store.Put(ctx, key, write)
}

// TestPausedHolderCannotCommit: a holder paused mid-unit until a successor took its expired unit
// lease and finished the run resumes without noticing (its renewal is not due yet); its commit of
// state.json, conditional on the version it read, fails, so it reads the state again, finds the run
// committed and commits nothing; the lake is the successor's.
func TestPausedHolderCannotCommit(t *testing.T) {
	src, _, want := cleanLake(t, genData(7, 150, 15, 1500))
	dir := t.TempDir()
	base, _ := lake.NewDir(dir)
	var mu sync.Mutex
	commits := map[int64][]string{}
	paused := &pausingStore{Store: &commitLog{Store: base, who: "paused", mu: &mu, log: commits}, paused: make(chan struct{}), resume: make(chan struct{})}
	a, err := New(Config{Chunk: 3000, Parallel: 1, Logger: slog.New(slog.DiscardHandler), Lease: lease.Config{Holder: "paused", TTL: time.Minute}}, paused, src)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	var pausedSum Summary
	go func() { var err error; pausedSum, err = a.Run(context.Background()); done <- err }()
	<-paused.paused
	// Either of its two workers may have taken the first slot: the map unit of the staged object's
	// topic partition, <topic>-p<partition>-<from>-<to>.rows.
	name := path.Base(paused.key)
	if err := acquireHeldUnit(base, "map/"+name[:strings.Index(name, "-p")+len("-p00000")]); err == nil {
		t.Fatal("the paused holder's unit lease was free")
	}
	sum, err := successor(t, &commitLog{Store: base, who: "successor", mu: &mu, log: commits}, src).Run(context.Background())
	if err != nil || !sum.Resumed || sum.Run != 1 {
		t.Fatalf("successor: %+v %v, want run 1 resumed", sum, err)
	}
	close(paused.resume)
	if err := <-done; err != nil || pausedSum.Run != 1 {
		t.Fatalf("the paused holder's run: %+v %v, want run 1 committed by the successor", pausedSum, err)
	}
	if len(commits) != 1 || !slices.Equal(commits[1], []string{"successor"}) {
		t.Errorf("commits per run number: %v, want run 1 committed by the successor alone", commits)
	}
	// What the paused holder staged after the successor's commit is staging of a committed run, which
	// it deleted itself when it found the run committed; readers never saw it.
	diffSnapshots(t, snapshot(t, dir), want)
}

// acquireHeldUnit tries the lease of a unit of run 1 as a third compactor would.
func acquireHeldUnit(s lake.Store, unit string) error {
	l, err := lease.Acquire(context.Background(), s, unitLeaseKey(1, unit), lease.Config{Holder: "third", Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		l.Release(context.Background())
	}
	return err
}
