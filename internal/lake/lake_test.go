package lake

import (
	"context"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/notestream/notestream/internal/testenv"
)

func put(t *testing.T, s Store, key, body string) {
	t.Helper()
	if err := s.Put(context.Background(), key, func(w io.Writer) error { _, err := io.WriteString(w, body); return err }); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// testStore checks the Store contract on an empty store.
func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "a/missing"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("get missing: %v, want ErrNotExist", err)
	}
	if keys, err := s.List(ctx, "nothing/"); err != nil || len(keys) != 0 {
		t.Fatalf("list empty: %v %v", keys, err)
	}
	put(t, s, "t/date=2023-07-02/part-0.parquet", "two")
	put(t, s, "t/date=2023-07-01/part-0.parquet", "one")
	put(t, s, "t2/x", "other table")
	put(t, s, "t/date=2023-07-01/part-0.parquet", "one, replaced")
	b, err := s.Get(ctx, "t/date=2023-07-01/part-0.parquet")
	if err != nil || string(b) != "one, replaced" {
		t.Fatalf("get = %q, %v", b, err)
	}
	checkOpen(t, s, "t/date=2023-07-01/part-0.parquet", "one, replaced")
	if _, err := s.Open(ctx, "a/missing"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("open missing: %v, want ErrNotExist", err)
	}
	keys, err := s.List(ctx, "t/")
	want := []string{"t/date=2023-07-01/part-0.parquet", "t/date=2023-07-02/part-0.parquet"}
	if err != nil || !reflect.DeepEqual(keys, want) {
		t.Fatalf("list t/ = %v, %v; want %v", keys, err, want)
	}
	if keys, _ := s.List(ctx, "t/date=2023-07-02/"); !reflect.DeepEqual(keys, want[1:]) {
		t.Fatalf("list one partition = %v", keys)
	}

	// A write that fails leaves the previous object and nothing else.
	boom := errors.New("boom")
	err = s.Put(ctx, "t/date=2023-07-02/part-0.parquet", func(w io.Writer) error {
		io.WriteString(w, strings.Repeat("half", 1000))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed put: %v", err)
	}
	if b, _ := s.Get(ctx, "t/date=2023-07-02/part-0.parquet"); string(b) != "two" {
		t.Fatalf("after failed put: %q", b)
	}
	if keys, _ := s.List(ctx, "t/"); !reflect.DeepEqual(keys, want) {
		t.Fatalf("after failed put list = %v", keys)
	}

	if err := s.Delete(ctx, "t/date=2023-07-02/part-0.parquet"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "t/date=2023-07-02/part-0.parquet"); err != nil {
		t.Fatalf("delete missing: %v", err)
	}
	if keys, _ := s.List(ctx, "t/"); !reflect.DeepEqual(keys, want[:1]) {
		t.Fatalf("after delete list = %v", keys)
	}
}

// checkOpen reads key through Open in two pieces, from the end first, and past its end.
func checkOpen(t *testing.T, s Store, key, want string) {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer r.Close()
	if r.Size() != int64(len(want)) {
		t.Fatalf("open %s: size %d, want %d", key, r.Size(), len(want))
	}
	half := len(want) / 2
	got := make([]byte, len(want))
	if n, err := r.ReadAt(got[half:], int64(half)); n != len(want)-half || (err != nil && err != io.EOF) {
		t.Fatalf("read the second half of %s: %d, %v", key, n, err)
	}
	if n, err := r.ReadAt(got[:half], 0); n != half || err != nil {
		t.Fatalf("read the first half of %s: %d, %v", key, n, err)
	}
	if string(got) != want {
		t.Fatalf("open %s read %q, want %q", key, got, want)
	}
	if n, err := r.ReadAt(make([]byte, 4), int64(len(want)-1)); n != 1 || err != io.EOF {
		t.Fatalf("read past the end of %s: %d, %v; want 1, EOF", key, n, err)
	}
}

// flakyStore's first reader fails its first ReadAt, like a connection that drops.
type flakyStore struct {
	Store
	opens int
}

func (s *flakyStore) Open(ctx context.Context, key string) (ObjectReader, error) {
	s.opens++
	r, err := s.Store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return &flakyReader{ObjectReader: r, failed: s.opens > 1}, nil
}

type flakyReader struct {
	ObjectReader
	failed bool
}

func (r *flakyReader) ReadAt(p []byte, off int64) (int, error) {
	if !r.failed {
		r.failed = true
		return 0, errors.New("connection reset")
	}
	return r.ObjectReader.ReadAt(p, off)
}

func TestRetryingOpenReopensAfterAFailedRead(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put(t, d, "k", "0123456789")
	flaky := &flakyStore{Store: d}
	r := NewRetrying(flaky, RetryConfig{Attempts: 3, Base: time.Millisecond})
	checkOpen(t, r, "k", "0123456789")
	if flaky.opens < 2 {
		t.Fatalf("%d opens: the failed read was not retried on a new one", flaky.opens)
	}
	if _, err := r.Open(context.Background(), "missing"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("open missing: %v", err)
	}
}

func TestDir(t *testing.T) {
	s, err := Open(context.Background(), "file://"+t.TempDir()+"/lake", S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	testStore(t, s)
}

// startS3 starts a MinIO server with a bucket "lake" and opens the store s3://lake+prefix on it;
// it returns the server, the store's config and the store.
func startS3(t *testing.T, prefix string) (*testenv.MinIO, S3Config, Store) {
	t.Helper()
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, "lake")
	cfg := S3Config{Endpoint: "http://" + m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, Region: "us-east-1"}
	s, err := Open(context.Background(), "s3://lake"+prefix, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, cfg, s
}

func TestS3(t *testing.T) {
	_, _, s := startS3(t, "/some/prefix")
	testStore(t, s)
}

func TestS3LargeObjectStreams(t *testing.T) {
	_, _, s := startS3(t, "")
	body := strings.Repeat("0123456789abcdef", 3*PartSize/16+5) // more than three parts
	put(t, s, "big", body)
	b, err := s.Get(context.Background(), "big")
	if err != nil || string(b) != body {
		t.Fatalf("get big: %d bytes, %v", len(b), err)
	}
	checkOpen(t, s, "big", body)
}

func TestRetryingGivesUpWithoutCredentials(t *testing.T) {
	m, cfg, s := startS3(t, "")
	m.Stop()
	r := NewRetrying(s, RetryConfig{Attempts: 3, Base: 10 * time.Millisecond})
	start := time.Now()
	_, err := r.Get(context.Background(), "x")
	if err == nil || errors.Is(err, ErrNotExist) {
		t.Fatalf("get from a stopped server: %v", err)
	}
	if !strings.Contains(err.Error(), "after 3 attempts") || strings.Contains(err.Error(), cfg.SecretKey) {
		t.Fatalf("error %q", err)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatalf("gave up without backing off")
	}
	m.Start()
	if _, err := r.Get(context.Background(), "x"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("after restart: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, u := range []string{"gs://bucket", "s3://", "file://", "::"} {
		if _, err := Open(context.Background(), u, S3Config{Endpoint: "http://127.0.0.1:1"}); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
}

func TestDirDeleteRemovesEmptyDirectories(t *testing.T) {
	root := t.TempDir()
	s, _ := NewDir(root)
	put(t, s, "t/country=FR/part-0.parquet", "x")
	put(t, s, "t/country=DE/part-0.parquet", "y")
	if err := s.Delete(context.Background(), "t/country=FR/part-0.parquet"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root + "/t")
	if err != nil || len(entries) != 1 || entries[0].Name() != "country=DE" {
		t.Fatalf("after delete: %v %v", entries, err)
	}
}

func TestDirSync(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(ctx); err != nil {
		t.Fatalf("sync of nothing: %v", err)
	}
	put(t, d, "t/date=2024-01-01/part-0.parquet", "one")
	put(t, d, "t/date=2024-01-02/part-0.parquet", "two")
	put(t, d, "t/date=2024-01-02/part-0.parquet", "three") // replaced before it was synced
	put(t, d, "gone/x", "x")
	if err := d.Delete(ctx, "gone/x"); err != nil { // deleted, directory and all, before it was synced
		t.Fatal(err)
	}
	if len(d.unsynced) == 0 {
		t.Fatal("nothing waits for Sync after Put")
	}
	if err := d.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if len(d.unsynced) != 0 {
		t.Errorf("still unsynced after Sync: %v", d.unsynced)
	}
	if b, err := d.Get(ctx, "t/date=2024-01-02/part-0.parquet"); err != nil || string(b) != "three" {
		t.Errorf("get after sync: %q %v", b, err)
	}
}
