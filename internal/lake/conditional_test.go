package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func body(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// testConditional checks GetVersion and PutIf on an empty store.
func testConditional(t *testing.T, s Store) {
	ctx := context.Background()
	if _, _, err := s.GetVersion(ctx, "_state/x.json"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("get version of a missing object: %v", err)
	}
	if _, err := s.PutIf(ctx, "_state/x.json", Version("an-old-version"), body("a")); !errors.Is(err, ErrConflict) {
		t.Fatalf("swap of a missing object: %v, want ErrConflict", err)
	}
	v1, err := s.PutIf(ctx, "_state/x.json", Absent, body("one"))
	if err != nil || v1 == Absent {
		t.Fatalf("create: %q %v", v1, err)
	}
	if _, err := s.PutIf(ctx, "_state/x.json", Absent, body("again")); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	b, v, err := s.GetVersion(ctx, "_state/x.json")
	if err != nil || string(b) != "one" || v != v1 {
		t.Fatalf("get version = %q %q %v, want %q %q", b, v, err, "one", v1)
	}
	v2, err := s.PutIf(ctx, "_state/x.json", v1, body("two"))
	if err != nil || v2 == v1 {
		t.Fatalf("swap: %q %v (old %q)", v2, err, v1)
	}
	if _, err := s.PutIf(ctx, "_state/x.json", v1, body("stale")); !errors.Is(err, ErrConflict) {
		t.Fatalf("swap on a stale version: %v, want ErrConflict", err)
	}
	if b, v, _ := s.GetVersion(ctx, "_state/x.json"); string(b) != "two" || v != v2 {
		t.Fatalf("after the stale swap: %q %q", b, v)
	}
	boom := errors.New("boom")
	if _, err := s.PutIf(ctx, "_state/x.json", v2, func(w io.Writer) error { io.WriteString(w, "half"); return boom }); !errors.Is(err, boom) {
		t.Fatalf("failed write: %v", err)
	}
	if b, _ := s.Get(ctx, "_state/x.json"); string(b) != "two" {
		t.Fatalf("after a failed write: %q", b)
	}
	if keys, err := s.List(ctx, "_state/"); err != nil || len(keys) != 1 {
		t.Fatalf("list after conditional writes = %v, %v; want the object alone", keys, err)
	}
}

// testLargeConditional checks PutIf and Holds on objects larger than a part.
func testLargeConditional(t *testing.T, s Store) {
	ctx := context.Background()
	const key = "bronze/t/part-00000.parquet"
	big := func(fill byte) func(io.Writer) error {
		return func(w io.Writer) error {
			_, err := w.Write(bytes.Repeat([]byte{fill}, PartSize+PartSize/2))
			return err
		}
	}
	v1, err := s.PutIf(ctx, key, Absent, big('a'))
	if err != nil {
		t.Fatalf("create a large object: %v", err)
	}
	if _, err := s.PutIf(ctx, key, Absent, big('b')); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create of a large object: %v, want ErrConflict", err)
	}
	if v, err := s.Version(ctx, key); err != nil || v != v1 {
		t.Fatalf("version = %q %v, want %q", v, err, v1)
	}
	v2, err := s.PutIf(ctx, key, v1, big('b'))
	if err != nil {
		t.Fatalf("swap a large object: %v", err)
	}
	if _, err := s.PutIf(ctx, key, v1, big('c')); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale swap of a large object: %v, want ErrConflict", err)
	}
	f := func(write func(io.Writer) error, want bool) {
		t.Helper()
		if got, err := Holds(ctx, s, key, write); err != nil || got != want {
			t.Errorf("holds = %v, %v; want %v", got, err, want)
		}
	}
	f(big('b'), true)
	f(big('a'), false)
	f(body("b"), false) // a prefix
	if v, _ := s.Version(ctx, key); v != v2 {
		t.Fatalf("version after the stale swap %q, want %q", v, v2)
	}
	if _, err := s.Version(ctx, "bronze/none"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("version of a missing object: %v", err)
	}
}

// testRaces starts goroutines together that all create one key, then all swap the version they read,
// round after round: exactly one wins each round, and the object holds the winner's bytes.
func testRaces(t *testing.T, s Store, racers, rounds int) {
	ctx := context.Background()
	const key = "_lease/race.json"
	v := Absent
	for round := range rounds {
		start := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		var won Version
		for i := range racers {
			wg.Go(func() {
				<-start
				content := fmt.Sprintf("round %d racer %d", round, i)
				nv, err := s.PutIf(ctx, key, v, body(content))
				switch {
				case err == nil:
					mu.Lock()
					winners, won = append(winners, content), nv
					mu.Unlock()
				case !errors.Is(err, ErrConflict):
					t.Errorf("round %d racer %d: %v", round, i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d (version %q): %d winners %q, want 1", round, v, len(winners), winners)
		}
		b, cur, err := s.GetVersion(ctx, key)
		if err != nil || string(b) != winners[0] || cur != won {
			t.Fatalf("round %d: object %q at %q (%v), winner %q at %q", round, b, cur, err, winners[0], won)
		}
		v = won
	}
}

func TestDirConditional(t *testing.T) {
	s, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testConditional(t, s)
	testLargeConditional(t, s)
	testRaces(t, s, 16, 20)
}

func TestS3Conditional(t *testing.T) {
	_, _, s := startS3(t, "/some/prefix")
	testConditional(t, s)
	testLargeConditional(t, s)
	testRaces(t, s, 16, 20)
}

// lossyStore loses the answer of PutIf calls: before, if set, runs first (another writer), then the
// write happens or not, and the caller hears an error either way.
type lossyStore struct {
	Store
	lose   int  // answers still to lose
	writes bool // whether a lost call writes
	before func()
}

func (l *lossyStore) PutIf(ctx context.Context, key string, v Version, write func(io.Writer) error) (Version, error) {
	if l.lose == 0 {
		return l.Store.PutIf(ctx, key, v, write)
	}
	l.lose--
	if l.before != nil {
		l.before()
	}
	if l.writes {
		if _, err := l.Store.PutIf(ctx, key, v, write); err != nil {
			return Absent, err
		}
	}
	return Absent, errors.New("connection reset")
}

// TestRetryingPutIfAfterLostAnswer: a retried PutIf whose earlier attempt wrote with its answer lost
// succeeds with the object's version; one whose object another writer changed meanwhile conflicts.
func TestRetryingPutIfAfterLostAnswer(t *testing.T) {
	ctx := context.Background()
	f := func(name string, writes bool, other string, wantConflict bool) {
		t.Helper()
		d, _ := NewDir(t.TempDir())
		v0, err := d.PutIf(ctx, "k", Absent, body("zero"))
		if err != nil {
			t.Fatal(err)
		}
		lossy := &lossyStore{Store: d, lose: 2, writes: writes}
		if other != "" {
			lossy.before = func() { lossy.before = nil; d.PutIf(ctx, "k", v0, body(other)) }
		}
		r := NewRetrying(lossy, RetryConfig{Attempts: 5, Base: time.Millisecond})
		v, err := r.PutIf(ctx, "k", v0, body("mine"))
		if wantConflict {
			if !errors.Is(err, ErrConflict) {
				t.Errorf("%s: %v, want ErrConflict", name, err)
			}
			return
		}
		b, cur, _ := d.GetVersion(ctx, "k")
		if err != nil || v != cur || string(b) != "mine" {
			t.Errorf("%s: %q %v; object %q at %q", name, v, err, b, cur)
		}
	}
	f("written, answer lost", true, "", false)
	f("not written, then retried", false, "", false)
	f("another writer first", false, "theirs", true)
	f("another writer, then written over it", true, "theirs", true)
}

// TestDirDeleteTakesItsLockFile: deleting a key written by PutIf deletes its lock file and the
// directories left empty, and writers racing to create the key, each deleting it again, still
// create it one at a time although the lock file they lock keeps being deleted.
func TestDirDeleteTakesItsLockFile(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, _ := NewDir(root)
	const key = "_lease/run-1/silver-2024-01-01.json"
	var holders atomic.Int32
	var wg sync.WaitGroup
	created := make([]int, 8)
	for w := range created {
		wg.Go(func() {
			for created[w] < 20 {
				_, err := s.PutIf(ctx, key, Absent, body("held"))
				if errors.Is(err, ErrConflict) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				created[w]++
				if n := holders.Add(1); n != 1 {
					t.Errorf("%d writers created the key at once", n)
				}
				holders.Add(-1)
				if err := s.Delete(ctx, key); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if entries, err := os.ReadDir(root); err != nil || len(entries) != 0 {
		t.Fatalf("the lake root holds %v after every delete (%v)", entries, err)
	}
}
