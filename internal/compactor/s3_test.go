package compactor

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/lake"
	"github.com/notestream/notestream/internal/lease"
	"github.com/notestream/notestream/internal/testenv"
)

func startLake(t *testing.T) (*testenv.MinIO, lake.Store) {
	t.Helper()
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "lake")
	s, err := lake.Open(context.Background(), "s3://lake/warehouse", lake.S3Config{
		Endpoint: "http://" + m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// storeSnapshot hashes every object of a store.
func storeSnapshot(t *testing.T, s lake.Store) map[string][32]byte {
	t.Helper()
	ctx := context.Background()
	keys, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, k := range keys {
		if k == LeaseKey {
			continue
		}
		b, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = sha256.Sum256(b)
	}
	return out
}

func TestS3LakeEqualsDirLake(t *testing.T) {
	ds := genData(5, 100, 20, 600)
	src := newMemSource()
	ds.loadUsers(src)
	ds.load(src, 0, len(ds.rows))
	_, s3 := startLake(t)
	run(t, s3, src)
	dir := t.TempDir()
	local, _ := lake.NewDir(dir)
	run(t, local, src)
	diffSnapshots(t, storeSnapshot(t, s3), snapshot(t, dir))
}

// stoppingStore stops MinIO when the run reaches its nth write.
type stoppingStore struct {
	lake.Store
	mu     sync.Mutex
	writes int
	stop   func()
}

func (s *stoppingStore) Put(ctx context.Context, key string, write func(io.Writer) error) error {
	s.count()
	return s.Store.Put(ctx, key, write)
}

func (s *stoppingStore) PutIf(ctx context.Context, key string, v lake.Version, write func(io.Writer) error) (lake.Version, error) {
	s.count()
	return s.Store.PutIf(ctx, key, v, write)
}

func (s *stoppingStore) count() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writes--; s.writes == 0 {
		s.stop()
	}
}

func TestMinIOStoppedMidRun(t *testing.T) {
	ds := genData(6, 100, 20, 800)
	src := newMemSource()
	ds.loadUsers(src)
	half := len(ds.rows) / 2
	ds.load(src, 0, half)
	m, s3 := startLake(t)
	run(t, s3, src)
	ctx := context.Background()
	committed, err := s3.Get(ctx, StateKey)
	if err != nil {
		t.Fatal(err)
	}
	ds.load(src, half, len(ds.rows))

	for _, n := range []int{1, 5, 40} { // the run's first write, then early and late in bronze
		stopping := &stoppingStore{Store: lake.NewRetrying(s3, lake.RetryConfig{Attempts: 2, Base: 10 * time.Millisecond}), writes: n, stop: m.Stop}
		// A run cut off from storage cannot release its lease: each run's clock is hours past the last's.
		hours := time.Duration(n) * time.Hour
		c, err := New(Config{Chunk: 3000, Logger: slog.New(slog.DiscardHandler), Lease: lease.Config{Now: func() time.Time { return time.Now().Add(hours) }}}, stopping, src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Run(ctx)
		if err == nil || !strings.Contains(err.Error(), "storage unreachable after 2 attempts") {
			t.Fatalf("stopped after %d writes: err = %v", n, err)
		}
		if strings.Contains(err.Error(), "notestream-secret") {
			t.Fatalf("error shows the secret: %v", err)
		}
		m.Start()
		// Read through retries, as the compactor does: a MinIO that has just answered its liveness
		// probe can still refuse the first requests while it starts.
		reader := lake.NewRetrying(s3, lake.RetryConfig{Attempts: 6, Base: 100 * time.Millisecond})
		if b, err := reader.Get(ctx, StateKey); err != nil || string(b) != string(committed) {
			t.Fatalf("stopped after %d writes: state changed (err %v):\n%s", n, err, b)
		}
	}
	last, err := New(Config{Chunk: 3000, Logger: slog.New(slog.DiscardHandler), Lease: lease.Config{Now: func() time.Time { return time.Now().Add(100 * time.Hour) }}}, s3, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := last.Run(ctx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	local, _ := lake.NewDir(dir)
	clean := newMemSource()
	ds.loadUsers(clean)
	ds.load(clean, 0, half)
	run(t, local, clean)
	ds.load(clean, half, len(ds.rows))
	run(t, local, clean)
	diffSnapshots(t, storeSnapshot(t, s3), snapshot(t, dir))
}
